// Fetches server data once per model (and method) into the state's caches; views ask for
// what they need and re-render when an entry changes: {pending, job} -> {data} or {error}.

import * as api from "./api.js";
import { embeddingKey, state, update } from "./state.js";

function setEntry(kind, key, value) {
  update({ [kind]: { ...state[kind], [key]: value } });
}

function load(kind, key, fetcher) {
  if (state[kind][key]) return state[kind][key];
  const entry = { pending: true, job: null };
  setEntry(kind, key, entry);
  fetcher((job) => setEntry(kind, key, { pending: true, job })).then(
    (data) => setEntry(kind, key, { data }),
    (error) => setEntry(kind, key, { error: error.message || String(error) }),
  );
  return entry;
}

export function ensurePaths(modelId) {
  return load("paths", modelId, () => api.getPaths(modelId));
}

export function ensureMetrics(modelId) {
  return load("metrics", modelId, () => api.getMetrics(modelId));
}

export function ensureEmbedding(modelId, method) {
  return load("embeddings", embeddingKey(modelId, method), (onProgress) =>
    api.getEmbedding(modelId, method, { onProgress }),
  );
}

export function ensureTraining(modelId) {
  return load("training", modelId, () => api.getTraining(modelId));
}

export function ensureImportance(modelId) {
  return load("importance", modelId, (onProgress) => api.getImportance(modelId, { onProgress }));
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
