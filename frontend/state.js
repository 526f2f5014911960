// The page's state: what the user chose (mirrored in the URL hash so a view can be shared
// or reloaded) and the data fetched for it. Views read it; `update` notifies them.

const METHODS = ["umap", "tsne", "pca"];
const COLORS = ["label", "prediction", "correct", "cost"];
const TABS = ["routing", "classes", "training", "formation", "upload"];
const DRAGS = ["zoom", "pan", "select", "lasso"];
const FLIPS = ["off", "on"];
const DENSITIES = ["off", "on"];
export const DATASET_SPLITS = ["test", "train"];

export const state = {
  // choices
  modelId: null,
  compareId: null,
  datasetSplit: "test", // whose images are mapped, measured and shown: test or train
  tab: "routing",
  method: "umap",
  secondMethod: null, // second map of the same model, or null
  color: "label",
  dragmode: "zoom",
  flip: "off", // block importance heatmap: blocks forced off, or on
  density: "off", // the map's density layer: each colour group's contours, or none
  sideTab: "sample", // which tab of the routing tab's side panels shows: "sample" or "selection"
  // interaction
  selection: null, // {ids: Set<sample id>, modelId, method, version, query?, text?} of a box, a lasso or a Find (query: what it found, in words; text: the Find box's query), or null
  finding: null, // {text, restoring} of a Find waiting for the paths, or null: see find.js
  legendHidden: {}, // embeddingKey -> {color, groups: Set<group id>, sampleIds: Set}: hidden through a map's legend
  // The clicked sample, or null: {modelId, sampleId, forced, views, neighbors}; forced: see
  // intervention.js; views and neighbors (per model id) as far as they are fetched.
  detail: null,
  upload: null, // {file, url, views, results: {modelId: {result|error|pending, forced}}}
  // server data
  health: null,
  models: [],
  measures: [], // definitions of the routing measures: name, label, unit, better, description
  modelsError: null,
  // per model / method caches, of the dataset split chosen (emptied when it changes)
  paths: {}, // modelId -> {data|error|pending}
  metrics: {}, // modelId -> {data|error|pending}
  importance: {}, // modelId -> {data|error|pending, job}: block importance per class
  training: {}, // modelId -> {data|error|pending}: the run's metrics per epoch
  embeddings: {}, // embeddingKey -> {data|error|pending, job}
  formation: {}, // `${modelId}|${method}` -> {data|error|pending, job}: paths over epochs
  groups: null, // seed groups (ablations) with their summaries: {data|error|pending}
};

const listeners = new Set();

let selections = 0;

/** A new selection's version: what tells views that the selection changed. */
export const nextSelectionVersion = () => ++selections;

/**
 * Merge `patch` into the state and tell every listener which keys changed. A change of
 * what the URL holds is a new history entry (Back returns to the view before it), unless
 * `replace`: the page's first state, and a view read back from the URL, are not new views.
 */
export function update(patch, { replace = false } = {}) {
  Object.assign(state, patch);
  const keys = new Set(Object.keys(patch));
  for (const listener of listeners) listener(state, keys);
  writeHash(replace);
}

export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** A map's key: its model, method and dataset split (a map of another split is another
 * map: its memos, redraws and zoom state are its own). */
export const embeddingKey = (modelId, method) => `${modelId}|${state.datasetSplit}|${method}`;

/** The chosen dataset split, as a reader names it. */
export const splitName = () => (state.datasetSplit === "train" ? "Training" : "Test");

export function modelById(id) {
  return state.models.find((m) => m.id === id) || null;
}

/** The models shown now: the main one, then the compared one if any. */
export function shownModels() {
  const ids = [state.modelId];
  if (state.compareId && state.compareId !== state.modelId) ids.push(state.compareId);
  return ids.map(modelById).filter(Boolean);
}

/**
 * The scatter plots shown now, each {key, modelId, method}: one; or the same model with a
 * second method; or two models with the same method.
 */
export function scatterSlots() {
  const shown = shownModels();
  if (!shown.length) return [];
  if (shown.length === 2) {
    return shown.map((m) => ({ key: `${m.id}|${state.method}`, modelId: m.id, method: state.method }));
  }
  const slots = [{ key: `${shown[0].id}|${state.method}`, modelId: shown[0].id, method: state.method }];
  if (state.secondMethod && state.secondMethod !== state.method) {
    slots.push({
      key: `${shown[0].id}|${state.secondMethod}`,
      modelId: shown[0].id,
      method: state.secondMethod,
    });
  }
  return slots;
}

/** Whether two models index the same samples (same dataset), so selections can be linked. */
export function sameSamples(idA, idB) {
  const a = modelById(idA);
  const b = modelById(idB);
  return Boolean(a && b && a.dataset === b.dataset && a.image_size === b.image_size);
}

// -- URL hash ------------------------------------------------------------------------

// How a change of these alone is recorded: in place, not as a step Back can undo (the
// drag mode is a tool, not a view).
const MINOR_PARAMS = new Set(["drag"]);

/** The URL hash of the state's choices: what a copied link or Back brings back. */
export function hashOf(state) {
  const params = new URLSearchParams();
  if (state.modelId) params.set("model", state.modelId);
  if (state.compareId) params.set("compare", state.compareId);
  if (state.datasetSplit !== "test") params.set("split", state.datasetSplit);
  if (state.tab !== "routing") params.set("tab", state.tab);
  if (state.method !== "umap") params.set("method", state.method);
  if (state.secondMethod) params.set("second", state.secondMethod);
  if (state.color !== "label") params.set("color", state.color);
  if (state.dragmode !== "zoom") params.set("drag", state.dragmode);
  if (state.flip !== "off") params.set("flip", state.flip);
  if (state.density !== "off") params.set("density", state.density);
  const detail = state.detail;
  if (detail) {
    params.set("sample", String(detail.sampleId));
    // A sample of the compared model names it: the main model's samples may be others.
    if (detail.modelId !== state.modelId) params.set("sample_model", detail.modelId);
    if (detail.forced) params.set("forced", detail.forced.path);
  }
  // A Find's query, while its selection stands or it waits for the paths: a link runs it
  // again (a box or a lasso is not kept: a link cannot draw it again).
  const found = state.selection?.text ?? state.finding?.text;
  if (found) params.set("find", found);
  return params.toString();
}

function writeHash(replace) {
  const hash = hashOf(state);
  const current = window.location.hash.slice(1);
  if (hash === current) return;
  const url = hash ? `#${hash}` : window.location.pathname + window.location.search;
  // Before the checkpoints are known the hash is still being settled: nothing to go back to.
  if (replace || !state.modelId || onlyMinorChanged(current, hash)) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
}

function onlyMinorChanged(before, after) {
  const a = new URLSearchParams(before);
  const b = new URLSearchParams(after);
  const names = new Set([...a.keys(), ...b.keys()]);
  return [...names].every((name) => MINOR_PARAMS.has(name) || a.get(name) === b.get(name));
}

/** The choices stored in the URL hash, validated. */
export function readHash() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const pick = (name, allowed, fallback) =>
    allowed.includes(params.get(name)) ? params.get(name) : fallback;
  return {
    modelId: params.get("model"),
    compareId: params.get("compare"),
    datasetSplit: pick("split", DATASET_SPLITS, "test"),
    tab: pick("tab", TABS, "routing"),
    method: pick("method", METHODS, "umap"),
    secondMethod: pick("second", METHODS, null),
    color: pick("color", COLORS, "label"),
    dragmode: pick("drag", DRAGS, "zoom"),
    flip: pick("flip", FLIPS, "off"),
    density: pick("density", DENSITIES, "off"),
    sampleId: /^\d+$/.test(params.get("sample") || "") ? Number(params.get("sample")) : null,
    sampleModelId: params.get("sample_model"),
    forced: /^[01]+$/.test(params.get("forced") || "") ? params.get("forced") : null,
    find: params.get("find") || "",
  };
}
