import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes kto's workflows set, so runs can be filtered in the Temporal UI
 * and with `kto runs list` by pipeline, topic, partition and command. The dev server
 * registers them at start; a production cluster needs the same list:
 * `temporal operator search-attribute create --name <name> --type <type>` for each entry.
 */
export const KTO_PIPELINE = defineSearchAttributeKey('KtoPipeline', SearchAttributeType.KEYWORD);
export const KTO_TOPIC = defineSearchAttributeKey('KtoTopic', SearchAttributeType.KEYWORD);
export const KTO_PARTITION = defineSearchAttributeKey('KtoPartition', SearchAttributeType.INT);
export const KTO_RECORDS = defineSearchAttributeKey('KtoRecords', SearchAttributeType.INT);
export const KTO_COMMAND = defineSearchAttributeKey('KtoCommand', SearchAttributeType.KEYWORD);

/** Each attribute with the type name the `temporal` CLI takes (`--search-attribute KtoTopic=Keyword`). */
export const SEARCH_ATTRIBUTES: Record<string, 'Keyword' | 'Int'> = Object.fromEntries(
  [KTO_PIPELINE, KTO_TOPIC, KTO_PARTITION, KTO_RECORDS, KTO_COMMAND].map((k) => [k.name, k.type === SearchAttributeType.INT ? 'Int' : 'Keyword']),
);
