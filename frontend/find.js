// The Find box: a sample by its number, a class, or paths (exact, with ? for either
// bit, or within k blocks). A sample is shown as a click shows it; a class or paths
// become the selection, so every map of the same images highlights them and the side
// panel summarises them, every image browsable page by page. The query of a Find's
// selection is in the URL (state.js), so a link runs it again.

import { describeQuery, findSamples, parseQuery } from "./data.js";
import { $ } from "./dom.js";
import { plural } from "./format.js";
import { ensurePaths } from "./loader.js";
import { modelSamples } from "./mapdata.js";
import { sampleShown } from "./sidepanel.js";
import { modelById, nextSelectionVersion, splitName, state, subscribe, update } from "./state.js";

export function initFind() {
  const form = $("#find-form");
  const input = $("#find-input");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    find(input.value);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    input.value = "";
    find("");
  });
  // A query typed (or linked) before the paths were in runs when they come.
  subscribe(() => {
    const waiting = state.finding;
    if (waiting && modelSamples(state.modelId)) find(waiting.text, waiting);
  });
}

function say(text, tone = "") {
  const status = $("#find-status");
  status.textContent = text;
  status.className = `find-status hint${tone ? ` tone-${tone}` : ""}`;
}

/**
 * Run a query on the main model's images of the chosen split. `restoring`: the query
 * comes from the URL, whose view it completes: its tab stays, and it is no new step of
 * the history.
 */
export function find(text, { restoring = false } = {}) {
  const model = modelById(state.modelId);
  if (!model) return;
  const [message, tone, patch] = answer(model, text, restoring);
  say(message, tone);
  // A query that waited for the paths is answered now, or replaced by this one.
  if (state.finding && !patch.finding) patch.finding = null;
  if (Object.keys(patch).length) update(patch, { replace: restoring });
}

/** What a query says and what it changes: [status text, its tone, a state patch]. */
function answer(model, text, restoring) {
  const query = parseQuery(text, { classNames: model.class_names, numGates: model.num_gates });
  if (!query) return ["", "", state.selection?.query ? { selection: null } : {}];
  if (query.error) return [query.error, "bad", {}];
  const samples = modelSamples(model.id);
  if (!samples) {
    ensurePaths(model.id);
    return ["Loading the paths…", "", { finding: { text, restoring } }];
  }
  const found = findSamples(samples, query);
  const what = describeQuery(query, model.class_names);
  if (!found.length) return [`No ${splitName().toLowerCase()} image is ${what}.`, "bad", {}];
  if (query.kind === "sample") return [`Sample #${query.id}: shown and ringed on the map.`, "", sampleShown(model.id, query.id)];
  const patch = foundSelection(model.id, samples, found, what, text);
  if (restoring) delete patch.tab;
  return [`${plural(found.length, "image")} found.`, "", patch];
}

/**
 * Bring back the Find of a URL (readHash): its query in the box, run again on the
 * view's model; an empty one clears a Find's selection. Nothing to do when it is the
 * Find in effect already.
 */
export function restoreFind(text) {
  if (text === (state.selection?.text ?? state.finding?.text ?? "")) return;
  $("#find-input").value = text;
  find(text, { restoring: true });
}

/** Make `indices` (of `samples`, a model's) the selection, found by `what` (words). */
export function selectFound(modelId, samples, indices, what) {
  update(foundSelection(modelId, samples, indices, what));
}

/** The patch that makes `indices` the selection, on the routing tab; `text`, the Find
 * box's query that found them, if any (the URL keeps it). */
function foundSelection(modelId, samples, indices, what, text = null) {
  return {
    tab: "routing",
    sideTab: "selection",
    selection: {
      ids: new Set(indices.map((i) => samples.sampleIds[i])),
      modelId,
      method: state.method,
      version: nextSelectionVersion(),
      query: what,
      text,
    },
  };
}
