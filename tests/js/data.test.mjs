// Pure computations on API data (frontend/data.js): samples, markers, neighbours,
// summaries and Find queries, on a small hand-made split.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  densityGrid,
  describeClasses,
  describeQuery,
  executedCount,
  executedRange,
  findSamples,
  groupMarkers,
  hamming,
  indicesOfIds,
  joinSamples,
  markerSize,
  nearestPaths,
  parseQuery,
  pathMembers,
  samplesOnPath,
  summarize,
  tableSamples,
} from "../../frontend/data.js";

// Six images of three classes on four distinct paths of three blocks.
const TABLE = {
  sample_ids: [10, 11, 12, 13, 14, 15],
  labels: [0, 0, 1, 1, 2, 2],
  predictions: [0, 1, 1, 1, 2, 0],
  paths: ["111", "111", "101", "001", "000", "111"],
  macs: [30, 30, 20, 10, 0, 30],
  confidences: [0.9, 0.6, 0.8, 0.7, 0.99, 0.5],
};
const CLASSES = ["cat", "car", "dog"];
// The same split laid out on a map: one point per distinct path.
const EMBEDDING = {
  sample_ids: TABLE.sample_ids,
  labels: TABLE.labels,
  predictions: TABLE.predictions,
  paths: ["111", "101", "001", "000"],
  path_ids: [0, 0, 1, 2, 3, 0],
  path_counts: [3, 1, 1, 1],
  x: [0, 0, 1, 2, 3, 0],
  y: [0, 0, 1, 0, 1, 0],
};

test("paths: executed blocks and Hamming distance", () => {
  assert.equal(executedCount("10110"), 3);
  assert.equal(hamming("1100", "1010"), 2);
  assert.equal(hamming("11", "1111"), 2); // lengths differ: the extra blocks count
});

test("a paths table gives each distinct path an id, in order of first use", () => {
  const samples = tableSamples(TABLE);
  assert.equal(samples.n, 6);
  assert.deepEqual(samples.paths, ["111", "101", "001", "000"]);
  assert.deepEqual([...samples.pathIds], [0, 0, 1, 2, 3, 0]);
  assert.deepEqual(samples.pathCounts, [3, 1, 1, 1]);
  assert.deepEqual(samples.executedOfPath, [3, 2, 1, 0]);
  assert.equal(samples.indexOf.get(13), 3);
  assert.deepEqual(pathMembers(samples), [[0, 1, 5], [2], [3], [4]]);
  assert.equal(pathMembers(samples), pathMembers(samples)); // computed once
  assert.deepEqual(samplesOnPath(samples, "111"), [0, 1, 5]);
  assert.deepEqual(samplesOnPath(samples, "010"), []);
});

test("an embedding joined with the table takes its costs by sample id", () => {
  const shuffled = { ...TABLE, sample_ids: [...TABLE.sample_ids].reverse(), macs: [...TABLE.macs].reverse() };
  const samples = joinSamples(EMBEDDING, shuffled);
  assert.deepEqual(samples.macs, TABLE.macs);
  assert.deepEqual([...samples.px], [0, 1, 2, 3]);
  assert.deepEqual(joinSamples(EMBEDDING, null).macs, Array(6).fill(null));
  assert.deepEqual(executedRange([samples]), [0, 3]);
  assert.equal(executedRange([]), null);
});

test("nearest paths: by distance, then the most used", () => {
  const samples = tableSamples(TABLE);
  assert.deepEqual(
    nearestPaths(samples, "111", 2).map((p) => [p.path, p.distance]),
    [["101", 1], ["001", 2]],
  );
});

test("a summary counts accuracy, cost, paths and classes", () => {
  const samples = tableSamples(TABLE);
  const summary = summarize(samples, [0, 1, 2, 5]);
  assert.equal(summary.count, 4);
  assert.equal(summary.accuracy, 0.5);
  assert.equal(summary.meanExecuted, (3 + 3 + 2 + 3) / 4);
  assert.equal(summary.meanMacs, (30 + 30 + 20 + 30) / 4);
  assert.equal(summary.distinctPaths, 2);
  assert.deepEqual(summary.paths[0], { pathId: 0, path: "111", count: 3 });
  assert.deepEqual(summary.classes, [[0, 2], [1, 1], [2, 1]]);
  assert.equal(summarize(samples, []).accuracy, null);
  assert.equal(describeClasses(samples, [0, 1, 2, 4], CLASSES, 2), "cat ×2, car ×1, +1 more");
  assert.deepEqual(indicesOfIds(samples, new Set([15, 10, 99])), [0, 5]);
});

test("markers: one per distinct path and colour group, sized by their samples", () => {
  const samples = joinSamples(EMBEDDING, TABLE);
  const meta = { classNames: CLASSES, numGates: 3 };
  const byLabel = groupMarkers(samples, "label", meta);
  assert.equal(byLabel.markerCount, 5); // 111 holds cats and a dog: two markers
  assert.equal(byLabel.pathCount, 4);
  assert.deepEqual(byLabel.groups.map((g) => [g.name, g.size]), [["cat", 2], ["car", 2], ["dog", 2]]);
  const correct = groupMarkers(samples, "correct", meta);
  assert.deepEqual(correct.groups.map((g) => [g.name, g.size]), [["Correct", 4], ["Misclassified", 2]]);
  const cost = groupMarkers(samples, "cost", meta);
  assert.deepEqual(cost.groups.map((g) => g.name), ["0 blocks", "1 block", "2 blocks", "3 blocks"]);
  assert.throws(() => groupMarkers(samples, "bogus", meta), /unknown colour mode/);
  // A marker's area grows with its samples.
  assert.ok(markerSize(2, byLabel) > markerSize(1, byLabel));
});

test("each group's density peaks at 1 on a shared grid", () => {
  const grouped = groupMarkers(joinSamples(EMBEDDING, TABLE), "label", { classNames: CLASSES, numGates: 3 });
  const grid = densityGrid(grouped);
  assert.equal(grid.z.length, grouped.groups.length);
  assert.equal(grid.x.length, grid.z[0][0].length);
  for (const z of grid.z) assert.equal(Math.max(...z.flat()), 1);
  assert.equal(densityGrid(grouped), grid); // memoised per map
});

test("Find queries: a sample, a class, paths within k blocks, or why not", () => {
  const meta = { classNames: CLASSES, numGates: 3 };
  assert.equal(parseQuery("  ", meta), null);
  assert.deepEqual(parseQuery("#12", meta), { kind: "sample", id: 12 });
  assert.deepEqual(parseQuery("id:12", meta), { kind: "sample", id: 12 });
  assert.deepEqual(parseQuery("class:Dog", meta), { kind: "class", index: 2 });
  assert.deepEqual(parseQuery("do", meta), { kind: "class", index: 2 });
  assert.match(parseQuery("ca", meta).error, /starts 2 class names/);
  assert.match(parseQuery("zebra", meta).error, /No class, sample or path/);
  assert.deepEqual(parseQuery("1?1~1", meta), { kind: "path", pattern: "1?1", within: 1 });
  assert.deepEqual(parseQuery("path: 1 1|1", meta), { kind: "path", pattern: "111", within: 0 });
  assert.match(parseQuery("path:11", meta).error, /have 3 blocks/);
  assert.match(parseQuery("id:x", meta).error, /not a sample number/);
});

test("Find queries find their samples, nearest paths first", () => {
  const samples = tableSamples(TABLE);
  const meta = { classNames: CLASSES, numGates: 3 };
  const found = (text) => findSamples(samples, parseQuery(text, meta));
  assert.deepEqual(found("#13"), [3]);
  assert.deepEqual(found("#99"), []);
  assert.deepEqual(found("class:car"), [2, 3]);
  assert.deepEqual(found("1?1"), [0, 1, 5, 2]);
  assert.deepEqual(found("111~1"), [0, 1, 5, 2]);
  assert.deepEqual(found("000~1"), [4, 3]);
  assert.equal(describeQuery(parseQuery("class:car", meta), CLASSES), "class car");
  assert.equal(describeQuery(parseQuery("1?1~1", meta), CLASSES), "paths 1?1 within 1 block");
  assert.equal(describeQuery(parseQuery("111", meta), CLASSES), "path 111");
  assert.equal(describeQuery(parseQuery("#4", meta), CLASSES), "sample #4");
});
