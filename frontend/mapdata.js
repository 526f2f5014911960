// What the routing views read from the state, shared by the map, the side panel and the
// upload view: samples joined per map, markers per colour mode (memoised), the clicked
// sample and the selection as they apply to a model.

import { executedRange, groupMarkers, indicesOfIds, joinSamples, tableSamples } from "./data.js";
import { COLOR_MODE_NAMES } from "./format.js";
import { embeddingKey, modelById, sameSamples, scatterSlots, state } from "./state.js";

export const WEBGL = detectWebGL();

function detectWebGL() {
  try {
    const canvas = document.createElement("canvas");
    return Boolean(canvas.getContext("webgl") || canvas.getContext("experimental-webgl"));
  } catch {
    return false;
  }
}


const joinMemo = new Map();
const groupMemo = new Map();
const tableMemo = new Map();

/** The samples of a slot's embedding joined with the model's paths table, or null. */
export function slotSamples(modelId, method) {
  const emb = state.embeddings[embeddingKey(modelId, method)]?.data;
  if (!emb) return null;
  const table = state.paths[modelId]?.data || null;
  const key = embeddingKey(modelId, method);
  const memo = joinMemo.get(key);
  if (memo && memo.emb === emb && memo.table === table) return memo.samples;
  const samples = joinSamples(emb, table);
  joinMemo.set(key, { emb, table, samples });
  return samples;
}

/** The markers of a slot in the current colour mode. */
export function slotMarkers(modelId, method, samples, color) {
  // Cost colours span the executed blocks seen in every shown model, so the same count
  // has the same colour side by side.
  const costRange =
    color === "cost"
      ? executedRange(
          scatterSlots()
            .map((slot) => slotSamples(slot.modelId, slot.method))
            .concat([samples])
            .filter(Boolean),
        )
      : null;
  const key = `${embeddingKey(modelId, method)}|${color}|${costRange}`;
  const memo = groupMemo.get(key);
  if (memo && memo.samples === samples) return memo.grouped;
  const model = modelById(modelId);
  const grouped = groupMarkers(samples, color, {
    classNames: model.class_names,
    numGates: model.num_gates,
    costRange,
  });
  groupMemo.set(key, { samples, grouped });
  return grouped;
}

/** A model's samples from its paths table (for details and summaries), or null. */
export function modelSamples(modelId) {
  const table = state.paths[modelId]?.data;
  if (!table) return null;
  const memo = tableMemo.get(modelId);
  if (memo && memo.table === table) return memo.samples;
  const samples = tableSamples(table);
  tableMemo.set(modelId, { table, samples });
  return samples;
}

/** [group index, marker index] of the marker holding sample index `i`. */
export function markerOf(grouped, i) {
  if (!grouped.markerOf) {
    grouped.markerOf = new Map();
    grouped.groups.forEach((group, g) =>
      group.markers.forEach((marker, m) => {
        for (const s of marker.samples) grouped.markerOf.set(s, [g, m]);
      }),
    );
  }
  return grouped.markerOf.get(i) || null;
}

export function legendTitle(model) {
  return state.color === "cost" ? `Executed blocks (of ${model.num_gates})` : COLOR_MODE_NAMES[state.color];
}

/** The selected sample indices of a model's samples (a selection on a model with the same
 * samples counts too), or null. */
export function selectionFor(modelId, samples) {
  const indices = selectedIndices(modelId, samples);
  return indices && new Set(indices);
}

/**
 * The selected sample indices of a model's samples, in index order, leaving out those
 * the selection's map hides through its legend (they are not on show, so a summary must
 * not count them); null without a selection that applies.
 */
export function selectedIndices(modelId, samples) {
  const sel = state.selection;
  if (!sel || !(sel.modelId === modelId || sameSamples(sel.modelId, modelId))) return null;
  const hidden = hiddenOf(sel.modelId, sel.method);
  const indices = indicesOfIds(samples, sel.ids);
  return hidden ? indices.filter((i) => !hidden.sampleIds.has(samples.sampleIds[i])) : indices;
}

/** What a map's legend hides in the current colour mode: {groups, sampleIds}, or null. */
export function hiddenOf(modelId, method) {
  const entry = state.legendHidden[embeddingKey(modelId, method)];
  return entry && entry.color === state.color && entry.groups.size ? entry : null;
}

/** The clicked sample, when it belongs to this model's samples, or null. */
export function detailFor(modelId) {
  const detail = state.detail;
  if (!detail || !(detail.modelId === modelId || sameSamples(detail.modelId, modelId))) return null;
  return detail;
}
