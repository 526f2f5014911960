// The comparison of two models' routing measures (Per-class tab, Compare ticked): the
// measures side by side with their difference and, for runs of a seeded ablation, each
// variant's mean and spread over seeds, so one run's figure is never read as an effect.

import { el, fill } from "./dom.js";
import { exportButtons } from "./export.js";
import { formatNumber, formatPercent } from "./format.js";
import { ensureGroups, ensureMetrics, entryState } from "./loader.js";
import { STATIC_CONFIG, seedSpreadFigure } from "./plots.js";
import { shownModels, splitName, state } from "./state.js";
import { whenChanged } from "./rerender.js";

// Shown first and charted over seeds: the measures that can rank two models.
const HEADLINE = ["accuracy", "mean_executed_blocks"];

export function renderMeasureComparison(root) {
  const models = shownModels();
  if (models.length === 2) {
    for (const model of models) ensureMetrics(model.id);
    if (models.some((m) => m.group)) ensureGroups();
  }
  comparisonView(root);
}

// Drawn again when the compared models, their metrics' or the seed groups' states, or
// the measures defined change; hidden unless two models are compared.
const comparisonView = whenChanged(() => {
  const models = shownModels();
  if (models.length !== 2) return null;
  const grouped = models.some((m) => m.group);
  return [models.map((m) => [m.id, entryState(state.metrics[m.id])]), grouped && entryState(state.groups), state.measures.length];
}, drawComparison);

function drawComparison(root) {
  const models = shownModels();
  root.hidden = models.length !== 2;
  if (root.hidden) return;
  for (const plot of root.querySelectorAll(".js-plotly-plot")) window.Plotly.purge(plot);
  const [a, b] = models;
  const cards = [sideBySide(a, b)];
  const groups = state.groups?.data || [];
  for (const name of [...new Set(models.map((m) => m.group).filter(Boolean))]) {
    const group = groups.find((g) => g.group === name);
    if (group) cards.push(seedCard(group, models));
    else if (state.groups?.error) cards.push(el("p", { class: "error-box", text: `Could not load the seed groups: ${state.groups.error}` }));
  }
  fill(root, ...cards);
  for (const div of root.querySelectorAll(".chart[data-figure]")) {
    const figure = JSON.parse(div.dataset.figure);
    delete div.dataset.figure;
    window.Plotly.newPlot(div, figure.data, figure.layout, STATIC_CONFIG).then(() => {
      div.dataset.state = "ready";
    });
  }
}

/** Every measure's definition, the headline figures first (accuracy, cost). */
function rows() {
  const headline = [
    { name: "accuracy", label: "Accuracy", better: "higher", unit: "fraction", description: "Test accuracy.", normalised: true },
    { name: "mean_executed_blocks", label: "Executed blocks", better: "lower", unit: "blocks", description: "Mean blocks executed per image: the cost.", normalised: true },
  ];
  const measures = [...state.measures].sort((x, y) => Number(y.normalised) - Number(x.normalised));
  return [...headline, ...measures];
}

function formatValue(measure, value) {
  if (value === null || value === undefined) return "–";
  if (measure.name === "accuracy") return formatPercent(value, 1);
  return formatNumber(value, measure.unit === "blocks" ? 2 : 3);
}

function sideBySide(a, b) {
  const ma = state.metrics[a.id]?.data?.overall;
  const mb = state.metrics[b.id]?.data?.overall;
  const head = el(
    "div",
    { class: "card-head" },
    el("h3", { text: "Routing measures compared" }),
    el("p", {
      class: "explain",
      text:
        `${splitName()} split. ` +
        "Raw distances (in blocks) shrink whenever a model uses fewer paths; the view ratio falls with more paths that an image's views keep: views share their paths more only where the view ratio and the view distance both say so. " +
        "A difference between two single runs includes the noise between seeds: read it against the spread over seeds below when the runs come from an ablation.",
    }),
  );
  if (!ma || !mb) {
    const error = state.metrics[a.id]?.error || state.metrics[b.id]?.error;
    return el("section", { class: "card", id: "measures-card" }, head, el("p", { class: error ? "error-box" : "loading-box", text: error || "Computing the measures of both models…" }));
  }
  const body = compared(ma, mb, rows()).map(({ measure: m, a: va, b: vb, diff, tone }) =>
    el(
      "tr",
      { dataset: { measure: m.name } },
      measureHead(m, "row"),
      el("td", { class: "num", text: va }),
      el("td", { class: "num", text: vb }),
      el("td", { class: `num diff ${tone ? `tone-${tone}` : ""}`, text: diff }),
    ),
  );
  const table = el(
    "table",
    { class: "data-table measures-table" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Measure" }), el("th", { scope: "col", class: "num", text: a.id }), el("th", { scope: "col", class: "num", text: b.id }), el("th", { scope: "col", class: "num", text: `${b.id} − ${a.id}` }))),
    el("tbody", {}, body),
  );
  return el("section", { class: "card", id: "measures-card" }, head, el("div", { class: "table-wrap" }, table));
}

/** Each measure of two models' overall metrics as text: a's, b's and b − a, with the
 * tone of the difference (ok: b is better). */
function compared(ma, mb, measures) {
  return measures.map((m) => {
    const va = ma[m.name];
    const vb = mb[m.name];
    const diff = va === null || vb === null || va === undefined || vb === undefined ? null : vb - va;
    let tone = null;
    if (diff) tone = (diff > 0) === (m.better === "higher") ? "ok" : "bad";
    const sign = diff > 0 ? "+" : "";
    const digits = m.unit === "blocks" ? 2 : 3;
    const diffText = diff === null ? "–" : `${sign}${m.name === "accuracy" ? `${formatNumber(100 * diff, 1)} pt` : formatNumber(diff, digits)}`;
    return { measure: m, a: formatValue(m, va), b: formatValue(m, vb), diff: diffText, tone };
  });
}

/** A measure's heading cell: its label, its better direction, "raw" if not normalised. */
function measureHead(m, scope) {
  return el(
    "th",
    { scope, title: m.description, class: scope === "col" ? "num" : null },
    `${m.label} `,
    el("span", { class: "better", text: m.better === "lower" ? "↓" : "↑" }),
    m.normalised ? null : el("span", { class: "raw-tag", text: " raw" }),
  );
}

/**
 * Under the two maps of Compare: both models' normalised measures (the ones that can
 * rank two models) and their difference, a row per model, so the maps are read with
 * the numbers beside them rather than on another tab. One strip per card: `strip(root,
 * a, b)` fills `root`, again when the models, their metrics' states or the measures
 * defined change.
 */
export function measureStrip() {
  return whenChanged(
    (root, a, b) => [a.id, b.id, entryState(state.metrics[a.id]), entryState(state.metrics[b.id]), state.measures.length],
    drawStrip,
  );
}

function drawStrip(root, a, b) {
  const ma = state.metrics[a.id]?.data?.overall;
  const mb = state.metrics[b.id]?.data?.overall;
  const head = el(
    "div",
    { class: "card-head" },
    el("h3", { text: "Routing measures, normalised" }),
    el("p", { class: "hint", text: `${splitName()} split; the Per-class tab has every measure and the spread over seeds.` }),
  );
  if (!ma || !mb) {
    const error = state.metrics[a.id]?.error || state.metrics[b.id]?.error;
    fill(root, head, el("p", { class: error ? "error-box" : "hint", text: error || "Computing the measures of both models…" }));
    return;
  }
  const measures = rows().filter((m) => m.normalised);
  const values = compared(ma, mb, measures);
  const row = (name, cls, cells) =>
    el("tr", { class: cls }, el("th", { scope: "row", text: name }), cells.map(([text, tone]) => el("td", { class: `num ${tone ? `tone-${tone}` : ""}`, text })));
  fill(
    root,
    head,
    el(
      "div",
      { class: "table-wrap" },
      el(
        "table",
        { class: "data-table measures-strip" },
        el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Model" }), measures.map((m) => measureHead(m, "col")))),
        el(
          "tbody",
          {},
          row(a.id, "model-row-a", values.map((v) => [v.a])),
          row(b.id, "model-row-b", values.map((v) => [v.b])),
          row(`${b.id} − ${a.id}`, "diff-row", values.map((v) => [v.diff, v.tone])),
        ),
      ),
    ),
  );
}

function seedCard(group, models) {
  // The shown models' own figures (their checkpoints' metrics, which the group summarises).
  const shown = Object.fromEntries(models.filter((m) => m.group === group.group).map((m) => [m.variant, m.metrics || {}]));
  const measures = [...HEADLINE, ...state.measures.filter((m) => m.normalised).map((m) => m.name)];
  const labels = Object.fromEntries(rows().map((m) => [m.name, m]));
  const figure = seedSpreadFigure(group, measures, labels, shown);
  const chart = el("div", { class: "chart seeds-chart", dataset: { figure: JSON.stringify(figure), state: "loading" } });
  const differences = Object.entries(group.differences).map(([baseline, byMeasure]) =>
    el(
      "tr",
      {},
      el("th", { scope: "row", text: `${group.reference} − ${baseline}` }),
      measures.map((name) => {
        const d = byMeasure[name];
        const text = d?.mean === null || d?.mean === undefined ? "–" : `${formatNumber(d.mean, 3)}${d.ci95 ? ` [${formatNumber(d.ci95[0], 3)}, ${formatNumber(d.ci95[1], 3)}]` : ""}`;
        return el("td", { class: `num ${toneOf(d?.reading)}`, title: d?.reading || "", text });
      }),
    ),
  );
  return el(
    "section",
    { class: "card", id: `seeds-${group.group}`, dataset: { group: group.group } },
    el(
      "div",
      { class: "card-head" },
      el("h3", { text: `Over seeds: ablation ${group.group}` }),
      exportButtons({ chart: () => chart, title: `Routing measures over seeds: ablation ${group.group}` }),
      el("p", {
        class: "explain",
        text: `Each variant's runs (dots), their mean and ± one standard deviation (bars); the runs shown above are ringed. Differences are ${group.reference} minus each baseline, paired by seed, with a 95% interval; green or red only where the interval excludes 0.`,
      }),
    ),
    chart,
    el(
      "div",
      { class: "table-wrap" },
      el(
        "table",
        { class: "data-table differences-table" },
        el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Difference" }), measures.map((n) => el("th", { scope: "col", class: "num", title: labels[n]?.description, text: labels[n]?.label || n })))),
        el("tbody", {}, differences),
      ),
    ),
  );
}

function toneOf(reading) {
  if (reading === "CoDiNet better") return "tone-ok";
  if (reading === "CoDiNet worse") return "tone-bad";
  return "";
}
