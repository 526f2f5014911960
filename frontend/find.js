// The Find box: a sample by its number, a class, or paths (exact, with ? for either
// bit, or within k blocks). A sample is shown as a click shows it; a class or paths
// become the selection, so every map of the same images highlights them and the side
// panel summarises them, every image browsable page by page.

import { describeQuery, findSamples, parseQuery } from "./data.js";
import { $ } from "./dom.js";
import { plural } from "./format.js";
import { ensurePaths } from "./loader.js";
import { modelSamples } from "./mapdata.js";
import { showSample } from "./sidepanel.js";
import { modelById, nextSelectionVersion, splitName, state, subscribe, update } from "./state.js";

let waiting = null; // a query typed before the paths were in, run when they come

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
  subscribe(() => {
    if (waiting !== null && modelSamples(state.modelId)) {
      const text = waiting;
      waiting = null;
      find(text);
    }
  });
}

function say(text, tone = "") {
  const status = $("#find-status");
  status.textContent = text;
  status.className = `find-status hint${tone ? ` tone-${tone}` : ""}`;
}

/** Run a query on the main model's images of the chosen split. */
export function find(text) {
  const model = modelById(state.modelId);
  if (!model) return;
  const samples = modelSamples(model.id);
  const query = parseQuery(text, { classNames: model.class_names, numGates: model.num_gates });
  if (!query) {
    say("");
    if (state.selection?.query) update({ selection: null });
    return;
  }
  if (query.error) {
    say(query.error, "bad");
    return;
  }
  if (!samples) {
    waiting = text;
    ensurePaths(model.id);
    say("Loading the paths…");
    return;
  }
  const found = findSamples(samples, query);
  const what = describeQuery(query, model.class_names);
  if (!found.length) {
    say(`No ${splitName().toLowerCase()} image is ${what}.`, "bad");
    return;
  }
  if (query.kind === "sample") {
    say(`Sample #${query.id}: shown and ringed on the map.`);
    showSample(model.id, query.id);
    return;
  }
  say(`${plural(found.length, "image")} found.`);
  selectFound(model.id, samples, found, what);
}

/** Make `indices` (of `samples`, a model's) the selection, found by `what` (words). */
export function selectFound(modelId, samples, indices, what) {
  update({
    tab: "routing",
    sideTab: "selection",
    selection: {
      ids: new Set(indices.map((i) => samples.sampleIds[i])),
      modelId,
      method: state.method,
      version: nextSelectionVersion(),
      query: what,
    },
  });
}
