// Fetches server data once per model (and method) into the state's caches; views ask for
// what they need and re-render when an entry changes: {pending, job} -> {data} or {error}.
// Everything but the training curves is of the chosen dataset split; an answer for a
// split no longer chosen is dropped (choosing a split empties the caches).

import * as api from "./api.js";
import { embeddingKey, state, update } from "./state.js";

/** What a view reads of an entry: whether its data is in, its error, or neither yet. */
export const entryState = (entry) => (entry?.data ? "data" : entry?.error ? "error" : "pending");

function setEntry(kind, key, value) {
  update({ [kind]: { ...state[kind], [key]: value } });
}

function load(kind, key, fetcher) {
  if (state[kind][key]) return state[kind][key];
  const split = state.datasetSplit;
  const entry = { pending: true, job: null };
  setEntry(kind, key, entry);
  const set = (value) => {
    if (state.datasetSplit === split) setEntry(kind, key, value);
  };
  fetcher(split, (job) => set({ pending: true, job })).then(
    (data) => set({ data }),
    (error) => set({ error: error.message || String(error), status: error.status || 0 }),
  );
  return entry;
}

export function ensurePaths(modelId) {
  return load("paths", modelId, (split) => api.getPaths(modelId, split));
}

export function ensureMetrics(modelId) {
  return load("metrics", modelId, (split) => api.getMetrics(modelId, split));
}

export function ensureEmbedding(modelId, method) {
  return load("embeddings", embeddingKey(modelId, method), (split, onProgress) =>
    api.getEmbedding(modelId, method, { split, onProgress }),
  );
}

export function ensureTraining(modelId) {
  return load("training", modelId, () => api.getTraining(modelId));
}

/** A run's formation over epochs, laid out by `method` (the same for either split). */
export function ensureFormation(modelId, method) {
  return load("formation", `${modelId}|${method}`, (_split, onProgress) =>
    api.getFormation(modelId, method, { onProgress }),
  );
}

export function ensureImportance(modelId) {
  return load("importance", modelId, (split, onProgress) =>
    api.getImportance(modelId, { split, onProgress }),
  );
}

/** The seed groups (ablations) and their summaries, fetched once. */
export function ensureGroups() {
  if (state.groups) return state.groups;
  const entry = { pending: true };
  update({ groups: entry });
  api.getGroups().then(
    (data) => update({ groups: { data } }),
    (error) => update({ groups: { error: error.message || String(error) } }),
  );
  return entry;
}

/** Forget a failed entry so the next ensure* call fetches it again. */
export function forget(kind, key) {
  const rest = { ...state[kind] };
  delete rest[key];
  update({ [kind]: rest });
}
