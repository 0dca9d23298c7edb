/** Progress of `hgd ingest`: a bar on a terminal, plain lines every few seconds otherwise. */
import cliProgress from 'cli-progress';

export interface Counts {
  accepted: number;
  duplicate: number;
  rejected: number;
  entriesSent: number;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

export class Progress {
  private entriesDone = 0;
  private chunksDone = 0;
  private readonly t0 = performance.now();
  private readonly bar: cliProgress.SingleBar | null;
  private readonly ticker: NodeJS.Timeout | null;

  constructor(
    private readonly totalEntries: number,
    private readonly totalChunks: number,
    private readonly counts: Counts,
    private readonly log: (line: string) => void,
    opts: { quiet: boolean; intervalMs: number },
  ) {
    this.bar = !opts.quiet && process.stdout.isTTY === true
      ? new cliProgress.SingleBar({
        stream: process.stdout,
        format: 'ingest {bar} {percentage}% | {value}/{total} entries | {rate}/s | chunks {chunks} | accepted {accepted} rejected {rejected} | eta {eta_formatted}',
        hideCursor: true,
      }, cliProgress.Presets.shades_classic)
      : null;
    this.bar?.start(totalEntries, 0, this.payload());
    this.ticker = this.bar ? null : setInterval(() => log(this.line()), opts.intervalMs);
  }

  private rate(): number {
    return this.counts.entriesSent / Math.max(0.001, (performance.now() - this.t0) / 1000);
  }

  private payload() {
    return { rate: fmt(this.rate()), chunks: `${this.chunksDone}/${this.totalChunks}`, accepted: fmt(this.counts.accepted), rejected: fmt(this.counts.rejected) };
  }

  private line(): string {
    const pct = this.totalEntries ? Math.floor((this.entriesDone / this.totalEntries) * 100) : 100;
    return `ingest: ${fmt(this.entriesDone)}/${fmt(this.totalEntries)} entries (${pct}%), ${this.chunksDone}/${this.totalChunks} chunks, ${fmt(this.rate())} entries/s, `
      + `accepted ${fmt(this.counts.accepted)}, duplicate ${fmt(this.counts.duplicate)}, rejected ${fmt(this.counts.rejected)}`;
  }

  /** `chunks` more chunks (holding `entries` entries) are done, sent or skipped. */
  advance(entries: number, chunks = 1): void {
    this.entriesDone += entries;
    this.chunksDone += chunks;
    this.bar?.update(this.entriesDone, this.payload());
  }

  /** A message between progress updates. */
  say(line: string): void {
    this.bar?.stop();
    this.log(line);
    this.bar?.start(this.totalEntries, this.entriesDone, this.payload());
  }

  stop(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.bar?.stop();
    if (!this.bar) this.log(this.line());
  }
}
