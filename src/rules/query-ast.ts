// PLACEHOLDER: the rule-language work replaces this with the real AST of the query grammar.
export type QueryNode = { readonly kind: string };
