// Figures and data out of the page: any chart as PNG or SVG at publication size, with
// its title and legend, and tables as CSV files.

import { el } from "./dom.js";

// 1200 x 800 CSS pixels: 8 x 5.3 inches at 150 dpi; PNGs are drawn at 3x (3600 x 2400,
// 300 dpi at 12 x 8 inches), SVGs scale freely.
export const EXPORT_WIDTH = 1200;
export const EXPORT_HEIGHT = 800;
export const PNG_SCALE = 3;

/** A file name from free text: letters, digits, dots and dashes only. */
export function fileName(text) {
  return String(text)
    .replace(/[^A-Za-z0-9.-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 120) || "figure";
}

function download(url, name) {
  const link = el("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
}

/**
 * The chart in `gd` as an image file: the same data and layout, at publication size,
 * with `title` on top and the legend shown whenever the chart has more than one trace.
 */
export async function downloadFigure(gd, title, format) {
  const layout = {
    ...gd.layout,
    title: { text: title, x: 0.02, xanchor: "left", font: { size: 18 } },
    margin: { ...(gd.layout.margin || {}), t: Math.max(70, gd.layout.margin?.t ?? 0) },
    paper_bgcolor: "#ffffff",
    width: EXPORT_WIDTH,
    height: EXPORT_HEIGHT,
  };
  const named = gd.data.filter((trace) => trace.name && trace.showlegend !== false);
  if (named.length > 1 && layout.showlegend === undefined) layout.showlegend = true;
  // A WebGL trace goes into an SVG as one raster image of its canvas: for a figure a
  // paper can scale, the SVG is drawn once with the SVG renderer, every marker a path.
  const data = format === "svg" ? gd.data.map((trace) => (trace.type === "scattergl" ? { ...trace, type: "scatter" } : trace)) : gd.data;
  const url = await window.Plotly.toImage(
    { data, layout },
    {
      format,
      width: EXPORT_WIDTH,
      height: EXPORT_HEIGHT,
      scale: format === "png" ? PNG_SCALE : 1,
    },
  );
  download(url, `${fileName(title)}.${format}`);
}

/** Rows as a CSV file: `columns` names the fields, each row an array in that order. */
export function downloadCsv(name, columns, rows) {
  const cell = (value) => {
    const text = value === null || value === undefined ? "" : String(value);
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  const lines = [columns, ...rows].map((row) => row.map(cell).join(","));
  const url = URL.createObjectURL(new Blob([`${lines.join("\r\n")}\r\n`], { type: "text/csv" }));
  download(url, `${fileName(name)}.csv`);
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * Small "PNG" and "SVG" buttons for a chart, and "CSV" when `csv` gives
 * {name, columns, rows}. `chart` returns the chart's element and `title` its title
 * (text, or a function giving it), both asked when a button is clicked.
 */
export function exportButtons({ chart = null, title = "", csv = null }) {
  const titleNow = () => (typeof title === "function" ? title() : title);
  const button = (label, what, onclick) =>
    el("button", { type: "button", class: "export-button", dataset: { export: label.toLowerCase() }, title: what, onclick }, label);
  return el(
    "span",
    { class: "export-buttons" },
    chart
      ? [
          button("PNG", `Download as PNG (${EXPORT_WIDTH * PNG_SCALE} x ${EXPORT_HEIGHT * PNG_SCALE} px)`, () =>
            downloadFigure(chart(), titleNow(), "png"),
          ),
          button("SVG", "Download as SVG", () => downloadFigure(chart(), titleNow(), "svg")),
        ]
      : null,
    csv
      ? button("CSV", "Download the data as CSV", () => {
          const { name, columns, rows } = csv();
          downloadCsv(name, columns, rows);
        })
      : null,
  );
}
