/**
 * A progress bar on stderr. On a terminal it redraws one line in place; anywhere else (CI logs,
 * a pipe) it prints a line at each quarter, so logs stay readable.
 */
export class Progress {
  private lastDraw = 0;
  private lastQuarter = -1;
  private active = true;
  private readonly tty: boolean;

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = stream.isTTY;
  }

  /** `fraction` in 0..1; `detail` is a short status shown after the bar. */
  update(fraction: number, detail: string): void {
    if (!this.active) return;
    const f = Math.max(0, Math.min(1, fraction));
    if (this.tty) {
      const now = Date.now();
      if (now - this.lastDraw < 80 && f < 1) return;
      this.lastDraw = now;
      const width = 24;
      const filled = Math.round(f * width);
      const line = `${this.label} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${String(Math.round(f * 100)).padStart(3)}%  ${detail}`;
      this.stream.write(`\r\u001b[2K${line.slice(0, (this.stream.columns || 100) - 1)}`);
    } else {
      const quarter = Math.floor(f * 4);
      if (quarter === this.lastQuarter) return;
      this.lastQuarter = quarter;
      this.stream.write(`${this.label} ${quarter * 25}%  ${detail}\n`);
    }
  }

  /** Leaves a final line (or erases the bar when `summary` is empty). */
  done(summary: string): void {
    if (!this.active) return;
    this.active = false;
    if (this.tty) this.stream.write(`\r\u001b[2K${summary ? `${this.label} ${summary}\n` : ''}`);
    else if (summary) this.stream.write(`${this.label} ${summary}\n`);
  }

  /** Interrupted: get the cursor back to a clean line. */
  abort(): void {
    if (this.active && this.tty) this.stream.write('\r\u001b[2K');
    this.active = false;
  }
}
