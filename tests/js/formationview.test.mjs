// The Formation tab's pure parts (frontend/formationview.js): where each image is drawn
// at an epoch, and the map's axis ranges.

import assert from "node:assert/strict";
import { test } from "node:test";

import { imageOffsets, paddedRange, positionsAt, recordedIndex } from "../../frontend/formationview.js";

test("an image is drawn at its path's point plus its own offset, whatever the epoch", () => {
  const data = { x: [0, 10], y: [0, -10], path_ids: [[0, 0, 1], [1, 0, 1]], epochs: [1, 3] };
  const offsets = imageOffsets(3, 0.5);
  const first = positionsAt(data, 0, offsets);
  const second = positionsAt(data, 1, offsets);
  assert.equal(second.x[0] - first.x[0], 10); // its path changed
  assert.equal(second.x[1], first.x[1]); // its path did not
  assert.equal(recordedIndex(data, 2), 0);
  assert.equal(recordedIndex(data, 3), 1);
});

test("the map's range holds every point and offset, for 200,000 distinct paths", () => {
  // 200 epochs of 2,000 images: more points than a spread call's arguments can hold.
  const values = Float64Array.from({ length: 200_000 }, (_, i) => i / 1000);
  const offsets = Float64Array.from([-0.5, 0.2, 0.3]);
  const [low, high] = paddedRange(values, offsets);
  const pad = 199.999 * 0.04 + 0.5;
  assert.ok(Math.abs(low + pad) < 1e-9 && Math.abs(high - 199.999 - pad) < 1e-9, `${low}, ${high}`);
});
