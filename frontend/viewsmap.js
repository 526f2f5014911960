// An image's augmented views on the map: each view's path placed where the map puts it,
// joined to the image's own point and labelled with its Hamming distance to the image's
// path, so the view ratio (how far apart routing puts one image's views) shows on the
// map. A shown sample's views are fetched with it; an upload's come with its result.

import { routeSample } from "./api.js";
import { hamming } from "./data.js";
import { el } from "./dom.js";
import { formatNumber, plural } from "./format.js";
import { miniPath } from "./pathdiagram.js";
import { state, update } from "./state.js";

/** Augmented views routed for a shown sample. */
export const SAMPLE_VIEWS = 8;

/** Fetch the shown sample's augmented views, once per sample (routed by its own gates). */
export function ensureSampleViews() {
  const detail = state.detail;
  if (!detail || detail.views) return;
  const split = state.datasetSplit;
  const views = { pending: true };
  update({ detail: { ...detail, views } });
  const settle = (entry) => {
    const now = state.detail;
    // Another sample, or another split, since: this answer is not theirs.
    if (!now || now.views !== views || state.datasetSplit !== split) return;
    update({ detail: { ...now, views: entry } });
  };
  routeSample(detail.modelId, detail.sampleId, null, split, SAMPLE_VIEWS).then(
    (result) => settle({ data: result.views, path: result.unforced?.path ?? result.path }),
    (error) => settle({ error: error.message || String(error) }),
  );
}

/**
 * The views to draw on a map, {x0, y0, points: [{x, y, distance, count, path}], total}:
 * one point per distinct view path (views on one path share its point), joined to
 * (x0, y0), the image's own point; views on the image's own path (distance 0) are that
 * point, and not drawn again over it. Null when `views` has no place on this map.
 */
export function viewPoints(views, method, origin) {
  const placed = views?.embedding?.[method];
  if (!placed || !origin) return null;
  const byPath = new Map();
  views.paths.forEach((path, i) => {
    if (!views.distances[i]) return;
    const entry = byPath.get(path) || { x: placed[i].x, y: placed[i].y, distance: views.distances[i], count: 0, path };
    entry.count += 1;
    byPath.set(path, entry);
  });
  return { x0: origin.x, y0: origin.y, points: [...byPath.values()], total: views.paths.length };
}

/** The views of the sample shown on `modelId`'s maps, as they were fetched, or null. */
export function sampleViews(modelId) {
  const detail = state.detail;
  return detail?.modelId === modelId ? detail.views?.data ?? null : null;
}

/** A list of the views: each one's path and its distance to the image's own path. */
export function viewsList(views, ownPath, model) {
  const distances = views.paths.map((path, i) => views.distances?.[i] ?? hamming(path, ownPath));
  const mean = distances.reduce((a, b) => a + b, 0) / Math.max(1, distances.length);
  return el(
    "div",
    { class: "views" },
    el("h4", {}, "Augmented views ", el("span", { class: "count", text: String(views.paths.length) })),
    el(
      "p",
      { class: "hint" },
      "Their paths differ from each other by ",
      el("b", { text: `${formatNumber(views.mean_distance, 2)} blocks` }),
      " on average, and from the image's path by ",
      el("b", { text: `${formatNumber(mean, 2)}` }),
      " (lower is more consistent). On the map, each view is a diamond joined to the image.",
    ),
    el(
      "ul",
      { class: "path-list" },
      views.paths.map((path, i) =>
        el(
          "li",
          {},
          el("span", { class: "pl-name", text: `View ${i + 1}` }),
          miniPath(path, model.stage_blocks),
          el("span", { class: "pl-dist", text: `${plural(distances[i], "block")} from the image's path` }),
        ),
      ),
    ),
  );
}
