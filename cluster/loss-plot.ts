/**
 * The training loss curve as a PNG (pngjs encodes; the drawing is ours). Written by hand because
 * the charting libraries for Node either need a native canvas (chartjs-node-canvas, vega's
 * renderer) — an install-time binary this project refuses — or render SVG only: the README shows
 * a PNG, which every viewer and GitHub display as is. What is drawn is plain: axes with tick
 * marks, a light grid, one polyline per series, and a vertical rule where the federated rounds
 * start. Numbers and labels live in the README beside the image (a bitmap font is not worth it).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { PNG } from "pngjs";

export interface PlotSeries {
  /** [x, y] points, x ascending. */
  readonly points: readonly (readonly [number, number])[];
  readonly rgb: readonly [number, number, number];
}

export interface LossPlot {
  readonly series: readonly PlotSeries[];
  /** x of a vertical dashed rule (the first federated round), if any. */
  readonly marker?: number;
  readonly width?: number;
  readonly height?: number;
}

const MARGIN = 40;

/** Encodes the plot as PNG bytes (RGBA, white background). */
export function renderLossPlot(plot: LossPlot): Buffer {
  const width = plot.width ?? 720;
  const height = plot.height ?? 360;
  const png = new PNG({ width, height });
  png.data.fill(255);
  const all = plot.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (all.length === 0) return PNG.sync.write(png);
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs, Math.min(...xs) + 1)];
  const span = Math.max(...ys) - Math.min(...ys) || 1;
  const [y0, y1] = [Math.min(...ys) - 0.05 * span, Math.max(...ys) + 0.05 * span];
  const px = (x: number) => MARGIN + ((x - x0) / (x1 - x0)) * (width - 2 * MARGIN);
  const py = (y: number) => height - MARGIN - ((y - y0) / (y1 - y0)) * (height - 2 * MARGIN);

  const set = (x: number, y: number, [r, g, b]: readonly [number, number, number]) => {
    const ix = Math.round(x);
    const iy = Math.round(y);
    if (ix < 0 || iy < 0 || ix >= width || iy >= height) return;
    const at = (iy * width + ix) * 4;
    png.data[at] = r;
    png.data[at + 1] = g;
    png.data[at + 2] = b;
    png.data[at + 3] = 255;
  };
  const line = (ax: number, ay: number, bx: number, by: number, rgb: readonly [number, number, number], thick = 1, dash = 0) => {
    const steps = Math.max(1, Math.ceil(Math.hypot(bx - ax, by - ay)));
    for (let i = 0; i <= steps; i++) {
      if (dash > 0 && Math.floor(i / dash) % 2 === 1) continue;
      const x = ax + ((bx - ax) * i) / steps;
      const y = ay + ((by - ay) * i) / steps;
      for (let dx = -(thick >> 1); dx <= thick >> 1; dx++) for (let dy = -(thick >> 1); dy <= thick >> 1; dy++) set(x + dx, y + dy, rgb);
    }
  };

  const grid: [number, number, number] = [228, 228, 228];
  const axis: [number, number, number] = [60, 60, 60];
  for (let i = 0; i <= 5; i++) {
    const y = MARGIN + (i * (height - 2 * MARGIN)) / 5;
    line(MARGIN, y, width - MARGIN, y, grid);
    line(MARGIN - 5, y, MARGIN, y, axis);
    const x = MARGIN + (i * (width - 2 * MARGIN)) / 5;
    line(x, MARGIN, x, height - MARGIN, grid);
    line(x, height - MARGIN, x, height - MARGIN + 5, axis);
  }
  line(MARGIN, MARGIN, MARGIN, height - MARGIN, axis, 2);
  line(MARGIN, height - MARGIN, width - MARGIN, height - MARGIN, axis, 2);
  if (plot.marker !== undefined) line(px(plot.marker), MARGIN, px(plot.marker), height - MARGIN, [150, 150, 150], 1, 4);
  for (const s of plot.series) {
    const points = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    for (let i = 1; i < points.length; i++) line(px(points[i - 1]![0]), py(points[i - 1]![1]), px(points[i]![0]), py(points[i]![1]), s.rgb, 2);
    if (points.length === 1) line(px(points[0]![0]) - 3, py(points[0]![1]), px(points[0]![0]) + 3, py(points[0]![1]), s.rgb, 3);
  }
  return PNG.sync.write(png);
}

/** Writes the PNG, making its folder when missing. */
export function writeLossPlot(file: string, plot: LossPlot): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, renderLossPlot(plot));
}
