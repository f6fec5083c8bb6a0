import cliProgress from 'cli-progress';

export interface Progress {
  /** Records acknowledged (this run and those before it, on resume). */
  records: number;
  failed: number;
  /** Bytes of the input behind the acknowledged batches. */
  bytes: number;
}

export interface ProgressReporter {
  update(p: Progress): void;
  stop(): void;
}

export type ProgressMode = 'auto' | 'bar' | 'lines' | 'none';

/**
 * On a terminal, a progress bar (cli-progress) on stderr with the share of
 * the input done, records, records/s, ETA and failures; otherwise a plain
 * line every `intervalMs`, so logs and CI output stay readable.
 */
export function progressReporter(label: string, totalBytes: number, initial: Progress, mode: ProgressMode, intervalMs = 2000): ProgressReporter {
  const stream = process.stderr;
  const chosen = mode === 'auto' ? (stream.isTTY ? 'bar' : 'lines') : mode;
  const started = Date.now();
  const startRecords = initial.records;
  const startBytes = initial.bytes;
  let last = initial;
  const rate = () => {
    const s = (Date.now() - started) / 1000;
    return s > 0 ? Math.round((last.records - startRecords) / s) : 0;
  };
  const eta = (): string => {
    const s = (Date.now() - started) / 1000;
    const done = last.bytes - startBytes;
    if (done <= 0 || s <= 0) return '?';
    return duration(((totalBytes - last.bytes) / done) * s);
  };
  const percent = () => (totalBytes > 0 ? Math.min(100, Math.floor((last.bytes / totalBytes) * 100)) : 100);

  if (chosen === 'none') return { update: () => undefined, stop: () => undefined };

  if (chosen === 'bar') {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: `${label} {bar} {percentage}% | {records} records | {rate} records/s | ETA {remaining} | {failed} failed`,
        barsize: 24,
        hideCursor: true,
        fps: 8,
        // The bar is drawn on a terminal only; a pseudo-terminal counts.
        noTTYOutput: !stream.isTTY,
      },
      cliProgress.Presets.shades_classic,
    );
    const payload = () => ({ records: last.records.toLocaleString('en-US'), rate: rate().toLocaleString('en-US'), remaining: eta(), failed: last.failed });
    bar.start(Math.max(1, totalBytes), Math.min(initial.bytes, totalBytes), payload());
    return {
      update(p) {
        last = p;
        bar.update(Math.min(p.bytes, totalBytes), payload());
      },
      stop() {
        bar.update(Math.min(last.bytes, totalBytes), payload());
        bar.stop();
      },
    };
  }

  const line = () =>
    stream.write(
      `${label}: ${last.records.toLocaleString('en-US')} records (${percent()}%), ${rate().toLocaleString('en-US')} records/s, ETA ${eta()}, ${last.failed} failed\n`,
    );
  const timer = setInterval(line, intervalMs);
  timer.unref();
  return {
    update(p) {
      last = p;
    },
    stop() {
      clearInterval(timer);
    },
  };
}

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
