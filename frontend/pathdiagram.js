// The network's gated blocks as DOM: executed or skipped, grouped by stage.

import { el } from "./dom.js";

/** Split a path string into stages of `stageBlocks` blocks (one stage if they disagree). */
function stagesOf(path, stageBlocks) {
  const total = (stageBlocks || []).reduce((a, b) => a + b, 0);
  const sizes = total === path.length && total > 0 ? stageBlocks : [path.length];
  const stages = [];
  let start = 0;
  for (const size of sizes) {
    stages.push({ start, bits: path.slice(start, start + size) });
    start += size;
  }
  return stages;
}

/**
 * The full diagram: stem, each stage's blocks (numbered, filled if executed), classifier,
 * and a legend. `compareTo` (another path) outlines the blocks where the two differ. With
 * `onToggle`, each block is a button: a click (or Enter) calls `onToggle(index)`.
 */
export function pathDiagram(
  path,
  stageBlocks,
  { compareTo = null, legend = true, caption = null, onToggle = null, differsLabel = "differs" } = {},
) {
  const executed = [...path].filter((b) => b === "1").length;
  const stages = stagesOf(path, stageBlocks);
  const flow = el("div", { class: "pd-flow" }, el("span", { class: "pd-io", text: "in", title: "input: the stem convolution" }));
  stages.forEach((stage, s) => {
    const blocks = el("div", { class: "pd-blocks" });
    [...stage.bits].forEach((bit, b) => {
      const on = bit === "1";
      const index = stage.start + b;
      const differs = compareTo !== null && compareTo[index] !== undefined && compareTo[index] !== bit;
      const where = `Stage ${s + 1}, block ${b + 1} (gate ${index + 1}): ${on ? "executed" : "skipped"}`;
      const props = {
        class: `pd-block ${on ? "on" : "off"}${differs ? " differs" : ""}`,
        dataset: { state: on ? "executed" : "skipped", index: String(index) },
        title: onToggle ? `${where}. Click to force it ${on ? "off" : "on"}.` : where,
        text: String(b + 1),
      };
      if (onToggle) {
        Object.assign(props, { type: "button", "aria-pressed": on ? "true" : "false", onclick: () => onToggle(index) });
      }
      blocks.append(el(onToggle ? "button" : "span", props));
    });
    flow.append(
      el("span", { class: "pd-arrow", "aria-hidden": "true" }),
      el(
        "div",
        { class: "pd-stage", dataset: { stage: String(s + 1) } },
        el("div", { class: "pd-stage-label", text: stages.length > 1 ? `Stage ${s + 1}` : "Blocks" }),
        blocks,
      ),
    );
  });
  flow.append(
    el("span", { class: "pd-arrow", "aria-hidden": "true" }),
    el("span", { class: "pd-io", text: "out", title: "output: pooling and the classifier" }),
  );
  const node = el(
    "div",
    {
      class: `pathdiagram${onToggle ? " interactive" : ""}`,
      role: onToggle ? "group" : "img",
      "aria-label": `Path ${path}: ${executed} of ${path.length} blocks executed`,
      dataset: { path, blocks: String(path.length), executed: String(executed) },
    },
    caption ? el("div", { class: "pd-caption", text: caption }) : null,
    flow,
  );
  if (legend) {
    node.append(
      el(
        "div",
        { class: "pd-legend" },
        el("span", { class: "pd-key on" }),
        "executed",
        el("span", { class: "pd-key off" }),
        "skipped (shortcut only)",
        compareTo !== null ? [el("span", { class: "pd-key differs" }), differsLabel] : null,
      ),
    );
  }
  return node;
}

/** A one-line diagram for lists: a small square per block, a gap between stages. */
export function miniPath(path, stageBlocks) {
  const executed = [...path].filter((b) => b === "1").length;
  const node = el("span", {
    class: "pd-mini",
    title: `${path}: ${executed} of ${path.length} blocks executed`,
    role: "img",
    "aria-label": `Path ${path}, ${executed} of ${path.length} blocks`,
  });
  stagesOf(path, stageBlocks).forEach((stage, s) => {
    const group = el("span", { class: "pd-mini-stage" });
    for (const bit of stage.bits) group.append(el("i", { class: bit === "1" ? "on" : "off" }));
    if (s) node.append(" ");
    node.append(group);
  });
  return node;
}
