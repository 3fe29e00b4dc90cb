/**
 * Custom search attributes the dev server registers at start, so runs can be filtered in the
 * Temporal UI by pipeline, topic and partition. A production cluster needs the same list:
 * `temporal operator search-attribute create --name <name> --type <type>` for each entry.
 */
export const SEARCH_ATTRIBUTES = {
  KtoPipeline: 'Keyword',
  KtoTopic: 'Keyword',
  KtoPartition: 'Int',
  KtoRecords: 'Int',
  KtoCommand: 'Keyword',
} as const;

export type SearchAttributeName = keyof typeof SEARCH_ATTRIBUTES;
