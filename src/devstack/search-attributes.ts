export { SEARCH_ATTRIBUTES, type SearchAttributeName } from '../shared/search-attributes';
