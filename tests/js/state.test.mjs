// The URL hash of a view (frontend/state.js's hashOf): what a copied link brings back.

import assert from "node:assert/strict";
import { test } from "node:test";

import { hashOf, state } from "../../frontend/state.js";

const view = (patch) => ({ ...state, modelId: "m", ...patch });

test("defaults are left out of the hash", () => {
  assert.equal(hashOf(view({})), "model=m");
  assert.equal(hashOf(view({ tab: "classes", color: "cost" })), "model=m&tab=classes&color=cost");
});

test("a shown sample's forced path is in the hash with it", () => {
  const detail = { modelId: "m", sampleId: 7, forced: { path: "1010", pending: true } };
  assert.equal(hashOf(view({ detail })), "model=m&sample=7&forced=1010");
  assert.equal(hashOf(view({ detail: { ...detail, forced: null } })), "model=m&sample=7");
});

test("a Find's query is in the hash while its selection stands or it waits", () => {
  const found = { ids: new Set([1]), modelId: "m", method: "umap", version: 1, query: "class 3", text: "class:3" };
  assert.equal(hashOf(view({ selection: found })), "model=m&find=class%3A3");
  const box = { ids: new Set([1]), modelId: "m", method: "umap", version: 2 };
  assert.equal(hashOf(view({ selection: box })), "model=m");
  assert.equal(hashOf(view({ finding: { text: "1?1~1", restoring: true } })), "model=m&find=1%3F1%7E1");
});
