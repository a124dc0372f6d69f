/**
 * SQL literals and identifiers written into DuckDB SQL text: file paths in COPY and read_parquet,
 * dates and category lists in the validation rules, cannot be bound parameters. The one place
 * that quotes them.
 */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

export function sqlIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
