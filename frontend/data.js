// Pure computations on API data: joining an embedding with the paths table, grouping
// samples into markers, Hamming neighbours and selection summaries. No DOM here.

import {
  CORRECT_COLOR,
  WRONG_COLOR,
  classColor,
  costColor,
  formatPercent,
  plural,
} from "./format.js";

/** [fewest, most] executed blocks over several sample sets (for a shared cost scale). */
export function executedRange(sampleSets) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const samples of sampleSets) {
    for (const k of samples.executedOfPath) {
      lo = Math.min(lo, k);
      hi = Math.max(hi, k);
    }
  }
  return Number.isFinite(lo) ? [lo, hi] : null;
}

/** Number of '1' bits of a path string. */
export function executedCount(path) {
  let count = 0;
  for (let i = 0; i < path.length; i += 1) if (path.charCodeAt(i) === 49) count += 1;
  return count;
}

export function hamming(a, b) {
  let distance = Math.abs(a.length - b.length);
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 1) if (a.charCodeAt(i) !== b.charCodeAt(i)) distance += 1;
  return distance;
}

/**
 * One model's samples on one embedding: the embedding's columns plus the paths table's
 * cost and confidence, joined by sample id. Coordinates are per distinct path.
 */
export function joinSamples(embedding, table) {
  const n = embedding.sample_ids.length;
  const numPaths = embedding.paths.length;
  const px = new Float64Array(numPaths);
  const py = new Float64Array(numPaths);
  const seen = new Uint8Array(numPaths);
  for (let i = 0; i < n; i += 1) {
    const p = embedding.path_ids[i];
    if (!seen[p]) {
      seen[p] = 1;
      px[p] = embedding.x[i];
      py[p] = embedding.y[i];
    }
  }
  const indexOf = new Map();
  embedding.sample_ids.forEach((id, i) => indexOf.set(id, i));
  const executedOfPath = embedding.paths.map(executedCount);
  const macs = new Array(n).fill(null);
  const confidences = new Array(n).fill(null);
  if (table) {
    table.sample_ids.forEach((id, row) => {
      const i = indexOf.get(id);
      if (i !== undefined) {
        macs[i] = table.macs[row];
        confidences[i] = table.confidences[row];
      }
    });
  }
  return {
    n,
    sampleIds: embedding.sample_ids,
    labels: embedding.labels,
    predictions: embedding.predictions,
    pathIds: embedding.path_ids,
    paths: embedding.paths,
    pathCounts: embedding.path_counts,
    executedOfPath,
    px,
    py,
    macs,
    confidences,
    indexOf,
  };
}

/**
 * One model's samples from its paths table alone, distinct paths found here: what the
 * detail panel, neighbours and selection summaries need, whichever map is shown.
 */
export function tableSamples(table) {
  const n = table.sample_ids.length;
  const idOfPath = new Map();
  const paths = [];
  const pathCounts = [];
  const pathIds = new Int32Array(n);
  for (let i = 0; i < n; i += 1) {
    const path = table.paths[i];
    let p = idOfPath.get(path);
    if (p === undefined) {
      p = paths.length;
      idOfPath.set(path, p);
      paths.push(path);
      pathCounts.push(0);
    }
    pathIds[i] = p;
    pathCounts[p] += 1;
  }
  const indexOf = new Map();
  table.sample_ids.forEach((id, i) => indexOf.set(id, i));
  return {
    n,
    sampleIds: table.sample_ids,
    labels: table.labels,
    predictions: table.predictions,
    pathIds,
    paths,
    pathCounts,
    executedOfPath: paths.map(executedCount),
    px: null,
    py: null,
    macs: table.macs,
    confidences: table.confidences,
    indexOf,
  };
}

/** The samples (indices) on each distinct path. */
export function samplesByPath(samples) {
  if (samples._byPath) return samples._byPath;
  const byPath = samples.paths.map(() => []);
  for (let i = 0; i < samples.n; i += 1) byPath[samples.pathIds[i]].push(i);
  samples._byPath = byPath;
  return byPath;
}

/** How each colour mode splits samples into groups: id, legend name, colour. */
export function colorGroups(mode, { classNames, numGates, costRange = null }) {
  const numClasses = classNames.length;
  if (mode === "label" || mode === "prediction") {
    return {
      of: mode === "label" ? (s, i) => s.labels[i] : (s, i) => s.predictions[i],
      count: numClasses,
      name: (g) => classNames[g] ?? String(g),
      color: (g) => classColor(g, numClasses),
    };
  }
  if (mode === "correct") {
    return {
      of: (s, i) => (s.labels[i] === s.predictions[i] ? 0 : 1),
      count: 2,
      name: (g) => (g === 0 ? "Correct" : "Misclassified"),
      color: (g) => (g === 0 ? CORRECT_COLOR : WRONG_COLOR),
    };
  }
  if (mode === "cost") {
    return {
      of: (s, i) => s.executedOfPath[s.pathIds[i]],
      count: numGates + 1,
      name: (g) => `${g} ${g === 1 ? "block" : "blocks"}`,
      color: (g) => {
        const [lo, hi] = costRange || [0, numGates];
        return costColor(hi > lo ? (g - lo) / (hi - lo) : 0.5);
      },
    };
  }
  throw new Error(`unknown colour mode ${mode}`);
}

/**
 * Markers of a scatter: one per (distinct path, colour group), holding that group's
 * samples on that path. Groups sharing a path sit on a small circle around the path's
 * point, each at an angle fixed by its group id, so every class stays visible.
 */
export function groupMarkers(samples, mode, meta) {
  const spec = colorGroups(mode, meta);
  const cells = new Map(); // group -> Map(pathId -> sample indices)
  const groupsOnPath = samples.paths.map(() => new Set());
  for (let i = 0; i < samples.n; i += 1) {
    const g = spec.of(samples, i);
    const p = samples.pathIds[i];
    if (!cells.has(g)) cells.set(g, new Map());
    const byPath = cells.get(g);
    if (!byPath.has(p)) byPath.set(p, []);
    byPath.get(p).push(i);
    groupsOnPath[p].add(g);
  }
  const span = spanOf(samples);
  const radius = 0.03 * span;
  const groupIds = [...cells.keys()].sort((a, b) => a - b);
  let maxCount = 1;
  let markerCount = 0;
  const groups = groupIds.map((g) => {
    const markers = [...cells.get(g).entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([pathId, indices]) => {
        const shared = groupsOnPath[pathId].size > 1;
        const angle = (2 * Math.PI * g) / spec.count - Math.PI / 2;
        maxCount = Math.max(maxCount, indices.length);
        return {
          pathId,
          samples: indices,
          x: samples.px[pathId] + (shared ? radius * Math.cos(angle) : 0),
          y: samples.py[pathId] + (shared ? radius * Math.sin(angle) : 0),
        };
      });
    markerCount += markers.length;
    return { id: g, name: spec.name(g), color: spec.color(g), markers, size: sizeOf(markers) };
  });
  return { mode, groups, markerCount, pathCount: samples.paths.length, maxCount };
}

function sizeOf(markers) {
  return markers.reduce((total, m) => total + m.samples.length, 0);
}

function spanOf(samples) {
  if (!samples.paths.length) return 1;
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (let p = 0; p < samples.paths.length; p += 1) {
    x0 = Math.min(x0, samples.px[p]);
    x1 = Math.max(x1, samples.px[p]);
    y0 = Math.min(y0, samples.py[p]);
    y1 = Math.max(y1, samples.py[p]);
  }
  return Math.max(x1 - x0, y1 - y0) || 1;
}

// Marker diameters: up to SPARSE_MARKERS markers, 7 to 34 pixels. A denser map shrinks
// them with the square root of the count, down to 3 to 16 pixels, so that the markers
// cover about the same area: at 37,000 markers the full sizes would paint the plot over
// many times (one blob, and a redraw several times slower in a software-rendered browser).
const SPARSE_MARKERS = 2000;
const FULL_SIZES = { min: 7, max: 34 };
const SMALLEST_SIZES = { min: 3, max: 16 };

/** The diameters, {min, max}, of a map of `markers` markers. */
function markerSizes(markers) {
  const scale = Math.min(1, Math.sqrt(SPARSE_MARKERS / Math.max(1, markers)));
  return {
    min: Math.max(SMALLEST_SIZES.min, FULL_SIZES.min * scale),
    max: Math.max(SMALLEST_SIZES.max, FULL_SIZES.max * scale),
  };
}

/** Diameter in pixels of a marker of `count` samples on the map of `grouped` (markersFor):
 * area grows with the count. */
export function markerSize(count, grouped) {
  const sizes = markerSizes(grouped.markerCount);
  return sizes.min + (sizes.max - sizes.min) * Math.sqrt(count / Math.max(1, grouped.maxCount));
}

/** Width of the white outline: thinner round the small markers of a dense map. */
export function markerOutline(grouped) {
  return markerSizes(grouped.markerCount).min < FULL_SIZES.min ? 0.5 : 1;
}

/** [[class, count], ...] of some samples, most frequent first. */
export function classCounts(samples, indices, of = "labels") {
  const counts = new Map();
  for (const i of indices) counts.set(samples[of][i], (counts.get(samples[of][i]) || 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
}

/** "7 ×20, 3 ×2" */
export function describeClasses(samples, indices, classNames, limit = 4) {
  const counts = classCounts(samples, indices);
  const shown = counts.slice(0, limit).map(([c, k]) => `${classNames[c] ?? c} ×${k}`);
  if (counts.length > limit) shown.push(`+${counts.length - limit} more`);
  return shown.join(", ");
}

const membersMemo = new WeakMap();

/** The sample indices on each distinct path (by path id), computed once per samples. */
export function pathMembers(samples) {
  let members = membersMemo.get(samples);
  if (!members) {
    members = samples.paths.map(() => []);
    for (let i = 0; i < samples.n; i += 1) members[samples.pathIds[i]].push(i);
    membersMemo.set(samples, members);
  }
  return members;
}

/** The samples (indices) whose path is `path` (a bit string), in index order. */
export function samplesOnPath(samples, path) {
  const pathId = samples.paths.indexOf(path);
  return pathId < 0 ? [] : pathMembers(samples)[pathId];
}

/**
 * The `k` samples whose paths are nearest to `path` by Hamming distance, then by id,
 * leaving out sample `skip`; with `otherPaths`, only samples on another path.
 */
export function nearestToPath(samples, path, k = 8, { skip = -1, otherPaths = false } = {}) {
  const distanceOfPath = samples.paths.map((p) => hamming(path, p));
  const order = [];
  for (let i = 0; i < samples.n; i += 1) {
    if (i !== skip && !(otherPaths && distanceOfPath[samples.pathIds[i]] === 0)) order.push(i);
  }
  order.sort(
    (a, b) =>
      distanceOfPath[samples.pathIds[a]] - distanceOfPath[samples.pathIds[b]] ||
      samples.sampleIds[a] - samples.sampleIds[b],
  );
  return order.slice(0, k).map((i) => ({ index: i, distance: distanceOfPath[samples.pathIds[i]] }));
}

/** The `k` distinct paths nearest to `path` (other than itself), nearest then most used. */
export function nearestPaths(samples, path, k = 5) {
  return samples.paths
    .map((p, pathId) => ({ pathId, path: p, distance: hamming(path, p), count: samples.pathCounts[pathId] }))
    .filter((entry) => entry.distance > 0)
    .sort((a, b) => a.distance - b.distance || b.count - a.count || a.pathId - b.pathId)
    .slice(0, k);
}

/** Summary of a set of samples (indices): classes, accuracy, cost, most common paths. */
export function summarize(samples, indices, { topPaths = 5 } = {}) {
  const count = indices.length;
  let correct = 0;
  let executed = 0;
  let macs = 0;
  let macsKnown = 0;
  const pathCounts = new Map();
  for (const i of indices) {
    if (samples.labels[i] === samples.predictions[i]) correct += 1;
    const p = samples.pathIds[i];
    executed += samples.executedOfPath[p];
    if (samples.macs[i] !== null) {
      macs += samples.macs[i];
      macsKnown += 1;
    }
    pathCounts.set(p, (pathCounts.get(p) || 0) + 1);
  }
  const paths = [...pathCounts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, topPaths)
    .map(([pathId, k]) => ({ pathId, path: samples.paths[pathId], count: k }));
  return {
    count,
    accuracy: count ? correct / count : null,
    meanExecuted: count ? executed / count : null,
    meanMacs: macsKnown ? macs / macsKnown : null,
    distinctPaths: pathCounts.size,
    classes: classCounts(samples, indices),
    paths,
  };
}

/** Indices of the samples whose ids are in `ids` (a Set). */
export function indicesOfIds(samples, ids) {
  const out = [];
  for (const id of ids) {
    const i = samples.indexOf.get(id);
    if (i !== undefined) out.push(i);
  }
  return out.sort((a, b) => a - b);
}

/** Text for one marker's hover: "23 samples · 7 ×20, 3 ×3". */
export function markerCaption(samples, marker, classNames) {
  const total = samples.pathCounts[marker.pathId];
  const here = marker.samples.length;
  const head =
    here === total
      ? `${plural(here, "sample")} on this path`
      : `${here} of the ${plural(total, "sample")} on this path`;
  return `${head} · ${describeClasses(samples, marker.samples, classNames)}`;
}

export function share(part, whole) {
  return formatPercent(whole ? part / whole : null, 0);
}
