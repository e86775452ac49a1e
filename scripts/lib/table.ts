/** Plain-text and Markdown tables. */

export type Align = 'left' | 'right';

/** Columns padded to their widest cell; the first column left-aligned, the others right. */
export function textTable(rows: readonly (readonly string[])[], indent = '  '): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, displayWidth(cell))));
  return rows
    .map(
      (row) =>
        indent +
        row
          .map((cell, i) => {
            const pad = ' '.repeat(widths[i]! - displayWidth(cell));
            return i === 0 ? cell + pad : pad + cell;
          })
          .join('   ')
          .trimEnd(),
    )
    .join('\n');
}

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[] = []): string {
  const rule = header.map((_, i) => ((align[i] ?? (i === 0 ? 'left' : 'right')) === 'right' ? '---:' : '---'));
  const line = (cells: readonly string[]): string => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(rule), ...rows.map(line)].join('\n');
}

function displayWidth(text: string): number {
  // Code points are what a terminal columns count here: the tables hold no combining characters.
  // eslint-disable-next-line no-control-regex
  return Array.from(text.replace(/\u001b\[[0-9;]*m/g, '')).length;
}

/**
 * An error message for a one-line report: its first clause (up to a `;`), and if that is longer
 * than `max`, cut at the last word boundary before it with an ellipsis, never mid-word.
 */
export function shortMessage(message: string, max = 100): string {
  const clause = (message.split(';')[0] ?? '').trim();
  if (clause.length <= max) return clause;
  const cut = clause.slice(0, max);
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).replace(/[\s,:.]+$/, '')}…`;
}
