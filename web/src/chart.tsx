/**
 * Chart.js on a canvas, with only the parts HGD draws registered (lines over time, bars, points
 * with error bars drawn as floating bars). Each chart has a text alternative beside it (a table),
 * so the canvas is labelled as an image of that table.
 */
import { useEffect, useRef } from 'preact/hooks';
import {
  BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip,
  type ChartConfiguration,
} from 'chart.js';
import { formatDate } from './words';

Chart.register(LineController, LineElement, PointElement, BarController, BarElement, CategoryScale, LinearScale, Tooltip, Legend);
Chart.defaults.color = '#1f2933';
Chart.defaults.font.family = 'system-ui, sans-serif';

/** Draws `config` once per distinct `dataKey` (the data it shows), not on every render of the page. */
function ChartCanvas({ config, dataKey, label }: { config: ChartConfiguration; dataKey: string; label: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    const chart = new Chart(ref.current, config);
    return () => chart.destroy();
  }, [dataKey]);
  return <div class="chart"><canvas ref={ref} role="img" aria-label={label} /></div>;
}

const DAY = 86_400_000;

export interface TimePoint { time: string; value: number }

/** One indicator over time: x is the time (ticks as dates), y the value in its unit. */
export function TimeChart({ points, unit, label }: { points: TimePoint[]; unit: string; label: string }) {
  const times = points.map((p) => Date.parse(p.time));
  // A single day's values: a day either side, so the axis shows dates rather than years.
  const pad = Math.max(...times) - Math.min(...times) < DAY ? DAY : 0;
  const config: ChartConfiguration = {
    type: 'line',
    data: { datasets: [{ label: unit, data: points.map((p) => ({ x: Date.parse(p.time), y: p.value })), borderColor: '#0b5cad', backgroundColor: '#0b5cad', pointRadius: 3 }] },
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      plugins: { legend: { display: false } },
      scales: {
        x: { type: 'linear', min: Math.min(...times) - pad, max: Math.max(...times) + pad, ticks: { maxTicksLimit: 5, callback: (v) => formatDate(new Date(Number(v)).toISOString()) } },
        y: { title: { display: true, text: unit } },
      },
    },
  };
  return <ChartCanvas config={config} dataKey={JSON.stringify([points, unit])} label={label} />;
}

/** Histogram bars: one bar per bucket, labelled by its edges. */
export function HistogramChart({ labels, counts, label }: { labels: string[]; counts: number[]; label: string }) {
  const config: ChartConfiguration = {
    type: 'bar',
    data: { labels, datasets: [{ label: 'noisy count', data: counts, backgroundColor: '#0b5cad' }] },
    options: { animation: false, maintainAspectRatio: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, title: { display: true, text: 'patients (noisy)' } } } },
  };
  return <ChartCanvas config={config} dataKey={JSON.stringify([labels, counts])} label={label} />;
}

/** A released value with its 95 % interval, drawn as a floating bar on a fixed axis (e.g. −1 to 1 for a correlation). */
export function IntervalChart({ name, value, interval, axis, label }: { name: string; value: number; interval: [number, number]; axis: [number, number]; label: string }) {
  const config: ChartConfiguration = {
    type: 'bar',
    data: {
      labels: [name],
      datasets: [
        { type: 'bar', label: '95 % interval', data: [interval], backgroundColor: 'rgba(11, 92, 173, 0.35)', borderColor: '#0b5cad', borderWidth: 1 },
        { type: 'line', label: 'released value', data: [value], borderColor: '#7a2e00', backgroundColor: '#7a2e00', pointRadius: 6, showLine: false },
      ],
    },
    options: { animation: false, maintainAspectRatio: false, indexAxis: 'y', scales: { x: { min: axis[0], max: axis[1] } } },
  };
  return <ChartCanvas config={config} dataKey={JSON.stringify([name, value, interval, axis])} label={label} />;
}
