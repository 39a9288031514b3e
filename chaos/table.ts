/** A two-column table on stdout, values wrapped to the terminal's width. */
export function printTable(rows: [string, string][]): void {
  const w = Math.max(...rows.map(([k]) => k.length));
  const width = Math.max(60, (process.stdout.columns ?? 120) - w - 5);
  const line = `+${'-'.repeat(w + 2)}+${'-'.repeat(width + 2)}+`;
  const out = [line];
  for (const [k, v] of rows) {
    const parts = wrap(v, width);
    parts.forEach((p, i) => out.push(`| ${(i === 0 ? k : '').padEnd(w)} | ${p.padEnd(width)} |`));
  }
  out.push(line);
  process.stdout.write(out.join('\n') + '\n');
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const word of text.split(' ')) {
    if (cur && cur.length + 1 + word.length > width) {
      lines.push(cur);
      cur = '';
    }
    cur = cur ? `${cur} ${word}` : word;
    while (cur.length > width) {
      lines.push(cur.slice(0, width));
      cur = cur.slice(width);
    }
  }
  lines.push(cur);
  return lines;
}
