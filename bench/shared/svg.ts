/**
 * The one chart helper of the bench: a line chart on log scales (x: log2,
 * y: log10) with horizontal reference lines and a legend on the right,
 * written as a small standalone SVG.
 *
 * @module
 */

/** One line of the chart, drawn through its points with a dot on each. */
export interface Series {
  label: string;
  color: string;
  /** `stroke-dasharray`; "" for a solid line. */
  dash: string;
  points: { x: number; y: number }[];
}

/** A horizontal line across the plot at `y`, with its own legend entry. */
export interface Reference {
  y: number;
  label: string;
  color: string;
  dash: string;
}

/** What {@linkcode logLogChart} draws. */
export interface LogLogChart {
  title: string;
  width: number;
  height: number;
  /** The plot's box; the legend goes right of it. */
  plot: { left: number; right: number; top: number; bottom: number };
  /** The x values, each with a tick (the first and the last bound the axis). */
  xs: readonly number[];
  xLabel: string;
  /** A y tick's label. */
  yTick: (value: number) => string;
  series: Series[];
  references: Reference[];
  /** More values the y axis spans, besides the series' points. */
  yExtent: number[];
}

function escapeXml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(
    ">",
    "&gt;",
  );
}

/** The chart as an SVG document (ends with a newline). */
export function logLogChart(chart: LogLogChart): string {
  const { width, height, plot, xs } = chart;
  const values = [
    ...chart.series.flatMap((s) => s.points.map((p) => p.y)),
    ...chart.yExtent,
  ];
  const lo = Math.floor(Math.log10(Math.min(...values)));
  const hi = Math.ceil(Math.log10(Math.max(...values)));
  const x = (value: number) => {
    const a = Math.log2(xs[0]);
    const b = Math.log2(xs[xs.length - 1]);
    return plot.left + 20 +
      (Math.log2(value) - a) / Math.max(1e-9, b - a) *
        (plot.right - plot.left - 40);
  };
  const y = (v: number) =>
    plot.bottom -
    (Math.log10(v) - lo) / Math.max(1e-9, hi - lo) * (plot.bottom - plot.top);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${plot.left}" y="22" font-size="15" font-weight="bold">${chart.title}</text>`,
  ];
  for (let d = lo; d <= hi; d++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** d;
      if (Math.log10(v) > hi + 1e-9) continue;
      const yy = y(v).toFixed(1);
      out.push(
        `<line x1="${plot.left}" x2="${plot.right}" y1="${yy}" y2="${yy}" stroke="${
          m === 1 ? "#cccccc" : "#eeeeee"
        }"/>`,
      );
      if (m === 1 || hi - lo <= 3) {
        out.push(
          `<text x="${plot.left - 6}" y="${
            (y(v) + 4).toFixed(1)
          }" text-anchor="end" fill="#444444">${chart.yTick(v)}</text>`,
        );
      }
    }
  }
  for (const value of xs) {
    const xx = x(value).toFixed(1);
    out.push(
      `<line x1="${xx}" x2="${xx}" y1="${plot.top}" y2="${plot.bottom}" stroke="#eeeeee"/>`,
      `<text x="${xx}" y="${
        plot.bottom + 18
      }" text-anchor="middle" fill="#444444">${value}</text>`,
    );
  }
  out.push(
    `<text x="${(plot.left + plot.right) / 2}" y="${
      plot.bottom + 40
    }" text-anchor="middle">${chart.xLabel}</text>`,
    `<rect x="${plot.left}" y="${plot.top}" width="${
      plot.right - plot.left
    }" height="${plot.bottom - plot.top}" fill="none" stroke="#888888"/>`,
  );
  const drawn = (value: number) => Number.isFinite(value) && value > 0;
  for (const { y: value, color, dash } of chart.references) {
    if (!drawn(value)) continue;
    const yy = y(value).toFixed(1);
    out.push(
      `<line x1="${plot.left}" x2="${plot.right}" y1="${yy}" y2="${yy}" stroke="${color}" stroke-dasharray="${dash}"/>`,
    );
  }
  chart.series.forEach((series, index) => {
    const dash = series.dash ? ` stroke-dasharray="${series.dash}"` : "";
    const points = series.points.map((p) =>
      `${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`
    ).join(" ");
    out.push(
      `<polyline points="${points}" fill="none" stroke="${series.color}" stroke-width="2"${dash}/>`,
    );
    for (const p of series.points) {
      out.push(
        `<circle cx="${x(p.x).toFixed(1)}" cy="${
          y(p.y).toFixed(1)
        }" r="3" fill="${series.color}"/>`,
      );
    }
    const ly = plot.top + 10 + index * 22;
    out.push(
      `<line x1="${plot.right + 20}" x2="${
        plot.right + 50
      }" y1="${ly}" y2="${ly}" stroke="${series.color}" stroke-width="2"${dash}/>`,
      `<text x="${plot.right + 56}" y="${ly + 4}">${
        escapeXml(series.label)
      }</text>`,
    );
  });
  chart.references.forEach(({ y: value, label, color, dash }, index) => {
    if (!drawn(value)) return;
    const ly = plot.top + 10 + (chart.series.length + 0.5 + index) * 22;
    out.push(
      `<line x1="${plot.right + 20}" x2="${
        plot.right + 50
      }" y1="${ly}" y2="${ly}" stroke="${color}" stroke-dasharray="${dash}"/>`,
      `<text x="${plot.right + 56}" y="${ly + 4}" fill="#555555">${
        escapeXml(label)
      }</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
