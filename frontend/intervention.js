// Intervening on a path: a block of an image's path is forced on or off, the image is
// routed through the new path, and what the network answers there is set beside what it
// answers on its own path. Used by the sample detail and by an upload's result.

import { el } from "./dom.js";
import { formatMacs, formatPercent, formatPrediction, plural } from "./format.js";

/** `path` with block `index` flipped. */
export function flipBlock(path, index) {
  return path.slice(0, index) + (path[index] === "1" ? "0" : "1") + path.slice(index + 1);
}

/** How many blocks two paths of equal length differ in. */
function flipped(a, b) {
  let count = 0;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) count += 1;
  return count;
}

/** The classes worth showing: the most likely ones on either path, at most `limit`. */
function topClasses(own, forced, limit) {
  const score = own.map((p, i) => Math.max(p, forced[i]));
  return score
    .map((_, i) => i)
    .sort((a, b) => score[b] - score[a])
    .slice(0, limit);
}

function probabilityBars(names, own, forced) {
  return el(
    "div",
    { class: "iv-probs", role: "table", "aria-label": "Class probabilities on the own and the forced path" },
    topClasses(own, forced, 4).map((i) =>
      el(
        "div",
        { class: "iv-prob", role: "row", dataset: { class: String(i) } },
        el("span", { class: "iv-prob-name", role: "rowheader", text: names[i] ?? String(i) }),
        el(
          "span",
          { class: "iv-prob-bars", role: "cell" },
          el("i", { class: "iv-bar own", style: { width: `${own[i] * 100}%` }, title: `own path: ${formatPercent(own[i])}` }),
          el("i", { class: "iv-bar forced", style: { width: `${forced[i] * 100}%` }, title: `forced path: ${formatPercent(forced[i])}` }),
        ),
        el("span", { class: "iv-prob-values", role: "cell", text: `${formatPercent(own[i], 0)} → ${formatPercent(forced[i], 0)}` }),
      ),
    ),
  );
}

function answerTable(own, forced) {
  const row = (label, routing, tone) =>
    el(
      "tr",
      { class: tone },
      el("th", { scope: "row", text: label }),
      el("td", { text: formatPrediction(routing.class_name, routing.probabilities[routing.prediction]) }),
      el("td", { text: `${routing.executed_blocks} of ${routing.path.length}` }),
      el("td", { text: formatMacs(routing.macs) }),
    );
  return el(
    "table",
    { class: "iv-table" },
    el(
      "thead",
      {},
      el("tr", {}, el("th", {}), el("th", { text: "Prediction" }), el("th", { text: "Blocks" }), el("th", { text: "MACs" })),
    ),
    el("tbody", {}, row("Own path", own, "own"), row("Forced", forced, "forced")),
  );
}

/**
 * The comparison of the network's own answer with the forced one, and a reset button.
 * `forced` is {path, result, pending, error}; `result` is the server's forced routing
 * (its `unforced` holds the network's own).
 */
export function interventionSummary(model, forced, onReset) {
  const reset = el(
    "button",
    { type: "button", class: "button small iv-reset", title: "Reset to the network's own path", onclick: onReset },
    "Reset to own path",
  );
  const box = el(
    "div",
    { class: "intervention", dataset: { state: forced.error ? "error" : forced.pending ? "pending" : "ready", path: forced.path } },
    el("div", { class: "iv-head" }, el("b", { text: "Forced path" }), reset),
  );
  if (forced.error) {
    box.append(el("p", { class: "error-box", role: "alert", text: `The forced path was not routed: ${forced.error}` }));
    return box;
  }
  const result = forced.result;
  if (!result || result.path !== forced.path) {
    box.append(el("p", { class: "hint" }, el("span", { class: "spinner" }), " Routing through the forced path…"));
    return box;
  }
  const own = result.unforced;
  const changed = result.prediction !== own.prediction;
  box.dataset.prediction = String(result.prediction);
  box.dataset.changed = changed ? "1" : "0";
  box.append(
    el(
      "p",
      { class: `iv-verdict ${changed ? "changed" : "same"}` },
      `${plural(flipped(own.path, result.path), "block")} flipped: `,
      changed
        ? el("b", { text: `the prediction changes from ${own.class_name} to ${result.class_name}.` })
        : el("b", { text: `the prediction stays ${result.class_name}.` }),
    ),
    answerTable(own, result),
    probabilityBars(model.class_names, own.probabilities, result.probabilities),
  );
  return box;
}
