// The page's one re-render mechanism (frontend/rerender.js): a view is drawn again when,
// and only when, what its selector reads changes.

import assert from "node:assert/strict";
import { test } from "node:test";

import { sameReading, whenChanged } from "../../frontend/rerender.js";

test("readings compare by value, member by member", () => {
  assert.ok(sameReading(3, 3));
  assert.ok(sameReading(Number.NaN, Number.NaN));
  assert.ok(sameReading(null, null));
  assert.ok(sameReading(["a", [1, { x: 2, y: [3] }]], ["a", [1, { y: [3], x: 2 }]]));
  assert.ok(!sameReading(null, undefined));
  assert.ok(!sameReading(0, "0"));
  assert.ok(!sameReading([1, 2], [1, 2, 3]));
  assert.ok(!sameReading([1, [2]], [1, [3]]));
  assert.ok(!sameReading({ a: 1 }, { a: 1, b: undefined }));
  assert.ok(!sameReading({ a: 1 }, { b: 1 }));
  assert.ok(!sameReading([], {}));
  assert.ok(!sameReading(null, {}));
});

test("anything but plain data compares as the same object only", () => {
  const ids = new Set([1, 2]);
  assert.ok(sameReading(ids, ids));
  assert.ok(!sameReading(new Set([1, 2]), new Set([1, 2])));
  assert.ok(!sameReading(new Date(0), new Date(0)));
});

/** A view over `state` reading `keys`, counting its draws. */
function counted(state, keys) {
  const draws = [];
  const render = whenChanged(
    (root) => keys.map((key) => state[key]),
    (root) => draws.push([root, ...keys.map((key) => state[key])]),
  );
  return { render, draws };
}

test("a view is drawn first, then only when what it reads changes", () => {
  const state = { model: "a", color: "label", unrelated: 0 };
  const { render, draws } = counted(state, ["model", "color"]);
  assert.equal(render("root"), true);
  assert.equal(render("root"), false);
  state.unrelated += 1; // a field the view does not read: no redraw
  assert.equal(render("root"), false);
  state.color = "cost";
  assert.equal(render("root"), true);
  state.color = "cost";
  assert.equal(render("root"), false);
  state.model = "b";
  state.color = "label";
  assert.equal(render("root"), true);
  assert.deepEqual(draws, [
    ["root", "a", "label"],
    ["root", "a", "cost"],
    ["root", "b", "label"],
  ]);
});

test("a reading built afresh each time is the same when its values are", () => {
  const state = { models: [{ id: "a", entry: { data: {} } }] };
  let draws = 0;
  const render = whenChanged(
    () => state.models.map((m) => [m.id, m.entry.data ? "data" : "pending"]),
    () => (draws += 1),
  );
  render();
  state.models = [{ id: "a", entry: { data: { other: 1 } } }]; // new objects, same reading
  render();
  assert.equal(draws, 1);
  state.models = [{ id: "a", entry: {} }];
  render();
  assert.equal(draws, 2);
});

test("the view's arguments reach both its selector and its drawing", () => {
  const seen = [];
  const render = whenChanged(
    (root, model) => model.id,
    (root, model) => seen.push(`${root}:${model.id}`),
  );
  render("left", { id: "a" });
  render("right", { id: "a" }); // same reading: not drawn
  render("right", { id: "b" });
  assert.deepEqual(seen, ["left:a", "right:b"]);
});

test("each instance remembers its own reading", () => {
  const state = { value: 1 };
  const first = counted(state, ["value"]);
  const second = counted(state, ["value"]);
  first.render(0);
  state.value = 2;
  second.render(0);
  assert.equal(first.render(0), true); // its last drawing read 1
  assert.equal(second.render(0), false);
});

test("a reading of undefined or null is drawn once, like any other", () => {
  let draws = 0;
  const render = whenChanged(() => undefined, () => (draws += 1));
  render();
  render();
  assert.equal(draws, 1);
});
