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

// -- Find: a sample, a class or paths ---------------------------------------------------

/**
 * A Find query, read: "#12" (or "12", or "id:12") a sample; "class:cat", or a class's
 * name or the unique start of one, the class's images; a path as long as the model's,
 * of 0, 1 and ? (either), with "~k" for "within k blocks of it" ("path:" forces this
 * reading; spaces, "·" and "|" between stages are ignored). Bare numbers are sample ids,
 * so digits' classes "0" to "9" are asked for as "class:3".
 * Returns {kind: "sample", id} | {kind: "class", index} | {kind: "path", pattern,
 * within} | {error} | null for an empty query.
 */
export function parseQuery(text, { classNames, numGates }) {
  const raw = String(text ?? "").trim();
  if (!raw) return null;
  const [, prefix = "", rest] = /^(?:(id|class|path)\s*:)?\s*(.*)$/is.exec(raw);
  const kind = prefix.toLowerCase();
  const body = rest.trim();
  const path = /^([01?]+)(?:~(\d+))?$/.exec(body.replace(/[\s·|]/g, ""));
  if (kind === "path" || (!kind && path && path[1].length === numGates)) {
    if (!path) return { error: `A path is ${numGates} characters of 0, 1 and ? (either), then ~k for "within k blocks".` };
    if (path[1].length !== numGates) {
      return { error: `This model's paths have ${numGates} blocks; "${path[1]}" has ${path[1].length}.` };
    }
    return { kind: "path", pattern: path[1], within: path[2] ? Number(path[2]) : 0 };
  }
  const id = /^#?(\d+)$/.exec(body);
  if (kind === "id" || (!kind && id)) {
    return id ? { kind: "sample", id: Number(id[1]) } : { error: `"${body}" is not a sample number.` };
  }
  const wanted = body.toLowerCase();
  const exact = classNames.findIndex((name) => name.toLowerCase() === wanted);
  if (exact >= 0) return { kind: "class", index: exact };
  const starting = classNames.flatMap((name, i) => (name.toLowerCase().startsWith(wanted) ? [i] : []));
  if (starting.length === 1) return { kind: "class", index: starting[0] };
  return {
    error: starting.length
      ? `"${body}" starts ${starting.length} class names: ${starting.slice(0, 4).map((i) => classNames[i]).join(", ")}…`
      : `No class, sample or path is "${body}".`,
  };
}

/** Blocks where `path` differs from `pattern`, a "?" of the pattern matching either. */
export function patternDistance(pattern, path) {
  let distance = 0;
  for (let i = 0; i < pattern.length; i += 1) {
    const want = pattern.charCodeAt(i);
    if (want !== 63 && want !== path.charCodeAt(i)) distance += 1;
  }
  return distance;
}

/**
 * The samples (indices) a parsed query finds: the sample, the class's images, or the
 * images on the matching paths, nearest paths first, then by index.
 */
export function findSamples(samples, query) {
  if (query.kind === "sample") {
    const i = samples.indexOf.get(query.id);
    return i === undefined ? [] : [i];
  }
  if (query.kind === "class") {
    const found = [];
    for (let i = 0; i < samples.n; i += 1) if (samples.labels[i] === query.index) found.push(i);
    return found;
  }
  const members = pathMembers(samples);
  return samples.paths
    .map((path, pathId) => ({ pathId, distance: patternDistance(query.pattern, path) }))
    .filter((entry) => entry.distance <= query.within)
    .sort((a, b) => a.distance - b.distance || a.pathId - b.pathId)
    .flatMap((entry) => members[entry.pathId]);
}

/** A parsed query in words: "class cat", "paths 10?1 within 1 block". */
export function describeQuery(query, classNames) {
  if (query.kind === "sample") return `sample #${query.id}`;
  if (query.kind === "class") return `class ${classNames[query.index] ?? query.index}`;
  const exact = !query.within && !query.pattern.includes("?");
  const within = query.within ? ` within ${plural(query.within, "block")}` : "";
  return `${exact ? "path" : "paths"} ${query.pattern}${within}`;
}

// -- density of the colour groups on a map ------------------------------------------------

// A kernel density estimate per group on one grid: CELLS a side over the markers' extent
// and a margin where a lone marker's lowest line still closes (the grid widens the map's
// axes by that margin), each marker a Gaussian of its sample count. The
// bandwidth is a fixed share of the map's span: the maps' scales are arbitrary (UMAP,
// t-SNE), and a per-class rule (Scott's) smears a class of two far clusters into one.
const DENSITY_CELLS = 72;
const DENSITY_BANDWIDTH = 0.035;
const DENSITY_MARGIN = 2.3; // bandwidths: a lone marker's density is 0.07 of its peak there
const densityMemo = new WeakMap();

/**
 * Each group's density over the map of `grouped` (groupMarkers), scaled to its own peak
 * (1): {x: cell centres, y: cell centres, z: [group][row][column]}. Memoised per
 * `grouped`.
 */
export function densityGrid(grouped) {
  const memo = densityMemo.get(grouped);
  if (memo) return memo;
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (const group of grouped.groups) {
    for (const m of group.markers) {
      x0 = Math.min(x0, m.x);
      x1 = Math.max(x1, m.x);
      y0 = Math.min(y0, m.y);
      y1 = Math.max(y1, m.y);
    }
  }
  const span = Math.max(x1 - x0, y1 - y0) || 1;
  const h = DENSITY_BANDWIDTH * span;
  const axis = (lo, hi) => {
    const start = lo - DENSITY_MARGIN * h;
    const step = (hi - lo + 2 * DENSITY_MARGIN * h) / (DENSITY_CELLS - 1);
    return { start, step, at: Array.from({ length: DENSITY_CELLS }, (_, i) => start + i * step) };
  };
  const ax = axis(x0, x1);
  const ay = axis(y0, y1);
  const x = ax.at;
  const y = ay.at;
  // Beyond three bandwidths a marker adds under 1.2% of its peak: not computed.
  const reachX = Math.ceil((3 * h) / ax.step);
  const reachY = Math.ceil((3 * h) / ay.step);
  const z = grouped.groups.map((group) => {
    const grid = Array.from({ length: DENSITY_CELLS }, () => new Float64Array(DENSITY_CELLS));
    let peak = 0;
    for (const m of group.markers) {
      const ci = Math.round((m.x - ax.start) / ax.step);
      const ri = Math.round((m.y - ay.start) / ay.step);
      for (let r = Math.max(0, ri - reachY); r <= Math.min(DENSITY_CELLS - 1, ri + reachY); r += 1) {
        const dy = y[r] - m.y;
        for (let c = Math.max(0, ci - reachX); c <= Math.min(DENSITY_CELLS - 1, ci + reachX); c += 1) {
          const dx = x[c] - m.x;
          grid[r][c] += m.samples.length * Math.exp(-(dx * dx + dy * dy) / (2 * h * h));
          peak = Math.max(peak, grid[r][c]);
        }
      }
    }
    return grid.map((row) => Array.from(row, (v) => (peak ? v / peak : 0)));
  });
  const out = { x, y, z };
  densityMemo.set(grouped, out);
  return out;
}
