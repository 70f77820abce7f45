/**
 * A bar chart of a report's rows (recharts, SVG). Loaded lazily by the Statistics screen,
 * so neither the first load of the Portal nor the screen's table waits for it. Every bar
 * carries its number as a label: the chart shows the same figures as the table beside it,
 * drawn from the same rows.
 */
import { Bar, BarChart, CartesianGrid, LabelList, Tooltip, XAxis, YAxis } from "recharts";

export interface ChartRow {
  label: string;
  value: number;
}

export default function Chart({ rows, title, valueName }: { rows: ChartRow[]; title: string; valueName: string }) {
  const width = Math.max(320, Math.min(44 * 16, rows.length * 72 + 80));
  return (
    <figure className="chart" aria-label={title}>
      <BarChart width={width} height={260} data={rows} margin={{ top: 24, right: 16, bottom: 8, left: 0 }} accessibilityLayer={false}>
        <CartesianGrid strokeDasharray="3 3" vertical={false} />
        <XAxis dataKey="label" interval={0} tick={{ fill: "#1b1f24", fontSize: 12 }} />
        <YAxis allowDecimals={false} tick={{ fill: "#1b1f24", fontSize: 12 }} />
        <Tooltip />
        <Bar dataKey="value" name={valueName} fill="#0b5cad" isAnimationActive={false}>
          <LabelList dataKey="value" position="top" fill="#1b1f24" className="chart-value" />
        </Bar>
      </BarChart>
      <figcaption className="visually-hidden">{title}</figcaption>
    </figure>
  );
}
