// Small DOM helpers. Server data only ever goes in through textContent and attributes.

import { state } from "./state.js";

/**
 * Create an element: el("div", {class: "x", dataset: {a: 1}, onclick: fn}, child, "text").
 * Strings among the children become text nodes; null/false children are skipped.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "style") Object.assign(node.style, value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace every child of `node` with `children`. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function $$(selector, root = document) {
  return Array.from(root.querySelectorAll(selector));
}

/** The URL of a dataset sample's thumbnail. */
export function sampleImageUrl(modelId, sampleId, size = 64, split = "test") {
  const id = encodeURIComponent(modelId);
  return `/api/models/${id}/samples/${sampleId}/image?size=${size}&split=${split}`;
}

/** A thumbnail of a sample of the chosen dataset split; `label` is its accessible text. */
export function thumbnail(modelId, sampleId, { size = 64, display = 48, label = "" } = {}) {
  return el("img", {
    class: "thumb",
    src: sampleImageUrl(modelId, sampleId, size, state.datasetSplit),
    width: display,
    height: display,
    alt: label || `Sample ${sampleId}`,
    loading: "lazy",
    decoding: "async",
  });
}

/** A small "label: value" pair for definition-style stats. */
export function stat(label, value, { title = null, tone = null } = {}) {
  return el(
    "div",
    { class: "stat", title },
    el("span", { class: "stat-label", text: label }),
    el("span", { class: tone ? `stat-value tone-${tone}` : "stat-value", text: value }),
  );
}
