/** The project's activities: side effects live here (HTTP calls, databases, mail), as in any Temporal project. */
export async function formatNotice(report: { pipeline: string; rows: number }): Promise<string> {
  return `${report.pipeline} wrote ${report.rows} rows`;
}
