import fc from 'fast-check';

/**
 * fast-check arbitraries from the JSON Schemas of an OpenAPI document (the subset that
 * zod's JSON Schema output uses: $ref into components, anyOf/oneOf/allOf, const, enum, type
 * lists, string formats and lengths, number bounds, arrays, objects with required keys).
 *
 * `valid` aims at values the schema accepts; `invalid` at values it should refuse (a required
 * key dropped, an unknown key added, a value of the wrong type), mixed with arbitrary JSON.
 * Neither is exact — a pattern or a refinement the schema cannot express may still refuse a
 * "valid" value — so the fuzz test judges answers by the contract, never by which one it sent.
 */

export type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  const?: unknown;
  enum?: unknown[];
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  default?: unknown;
};

export type SchemaArbitraries = {
  valid(schema: JsonSchema | undefined): fc.Arbitrary<unknown>;
  invalid(schema: JsonSchema | undefined): fc.Arbitrary<unknown>;
};

const maxDepth = 4;

export function createSchemaArbitraries(components: Record<string, JsonSchema> = {}): SchemaArbitraries {
  const resolve = (schema: JsonSchema): JsonSchema => {
    let current = schema;
    for (let hops = 0; current.$ref !== undefined && hops < 10; hops++) {
      const name = current.$ref.split('/').at(-1)!;
      current = components[name] ?? {};
    }
    return current;
  };

  const string = (schema: JsonSchema): fc.Arbitrary<string> => {
    switch (schema.format) {
      case 'date-time':
        return fc
          .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
          .map((date) => date.toISOString());
      case 'email':
        return fc.emailAddress();
      case 'uri':
        return fc.webUrl();
    }
    if (schema.pattern !== undefined) {
      try {
        return fc.stringMatching(new RegExp(schema.pattern)).filter((text) => text.length <= 500);
      } catch {
        // A pattern JavaScript cannot read: fall through to plain strings.
      }
    }
    const minLength = schema.minLength ?? 0;
    const maxLength = Math.min(schema.maxLength ?? minLength + 24, minLength + 64);
    return fc.string({ minLength, maxLength, unit: 'grapheme' });
  };

  const number = (schema: JsonSchema, isInteger: boolean): fc.Arbitrary<number> => {
    const min =
      schema.minimum ?? (schema.exclusiveMinimum === undefined ? -1e6 : schema.exclusiveMinimum + 1);
    const max = schema.maximum ?? (schema.exclusiveMaximum === undefined ? 1e6 : schema.exclusiveMaximum - 1);
    if (isInteger) {
      return fc.integer({
        min: Math.max(Math.ceil(min), Number.MIN_SAFE_INTEGER),
        max: Math.min(Math.floor(max), Number.MAX_SAFE_INTEGER),
      });
    }
    return fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
  };

  const ofType = (type: string, schema: JsonSchema, depth: number): fc.Arbitrary<unknown> => {
    switch (type) {
      case 'string':
        return string(schema);
      case 'integer':
        return number(schema, true);
      case 'number':
        return number(schema, false);
      case 'boolean':
        return fc.boolean();
      case 'null':
        return fc.constant(null);
      case 'array': {
        const minLength = schema.minItems ?? 0;
        return fc.array(valid(schema.items, depth + 1), {
          minLength,
          maxLength: Math.min(schema.maxItems ?? minLength + 3, minLength + 3),
        });
      }
      case 'object': {
        const properties = schema.properties ?? {};
        const record = fc.record(
          Object.fromEntries(Object.entries(properties).map(([name, sub]) => [name, valid(sub, depth + 1)])),
          { requiredKeys: (schema.required ?? []).filter((name) => name in properties) },
        );
        if (typeof schema.additionalProperties !== 'object') return record;
        const extra = fc.dictionary(
          fc.string({ minLength: 1, maxLength: 8 }),
          valid(schema.additionalProperties, depth + 1),
          {
            maxKeys: 3,
          },
        );
        return fc.tuple(record, extra).map(([known, more]) => ({ ...more, ...known }));
      }
      default:
        return fc.jsonValue({ maxDepth: 2 });
    }
  };

  function valid(schema: JsonSchema | undefined, depth = 0): fc.Arbitrary<unknown> {
    if (schema === undefined || depth > maxDepth) return fc.jsonValue({ maxDepth: 1 });
    const resolved = resolve(schema);
    if (resolved.const !== undefined) return fc.constant(resolved.const);
    if (resolved.enum !== undefined) return fc.constantFrom(...resolved.enum);
    const choices = resolved.anyOf ?? resolved.oneOf;
    if (choices !== undefined && choices.length > 0)
      return fc.oneof(...choices.map((choice) => valid(choice, depth + 1)));
    if (resolved.allOf !== undefined && resolved.allOf.length > 0) return valid(resolved.allOf[0], depth + 1);
    const types = Array.isArray(resolved.type)
      ? resolved.type
      : resolved.type === undefined
        ? []
        : [resolved.type];
    if (types.length === 0)
      return resolved.properties ? ofType('object', resolved, depth) : fc.jsonValue({ maxDepth: 2 });
    return fc.oneof(...types.map((type) => ofType(type, resolved, depth)));
  }

  /** A value of another JSON type than `types` allows. */
  const wrongType = (types: string[]) => {
    const all: Record<string, fc.Arbitrary<unknown>> = {
      string: fc.string({ maxLength: 12 }),
      number: fc.double({ noNaN: true }),
      boolean: fc.boolean(),
      null: fc.constant(null),
      array: fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
      object: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
    };
    const others = Object.entries(all)
      .filter(([name]) => !types.includes(name) && !(name === 'number' && types.includes('integer')))
      .map(([, arbitrary]) => arbitrary);
    return others.length > 0 ? fc.oneof(...others) : fc.jsonValue();
  };

  function invalid(schema: JsonSchema | undefined): fc.Arbitrary<unknown> {
    if (schema === undefined) return fc.jsonValue();
    const resolved = resolve(schema);
    const types = Array.isArray(resolved.type)
      ? resolved.type
      : resolved.type === undefined
        ? []
        : [resolved.type];
    const mutations: fc.Arbitrary<unknown>[] = [fc.jsonValue({ maxDepth: 3 }), wrongType(types)];
    if (types.includes('object') && resolved.properties !== undefined) {
      const required = (resolved.required ?? []).filter((name) => name in resolved.properties!);
      const base = valid(resolved) as fc.Arbitrary<Record<string, unknown>>;
      if (required.length > 0) {
        mutations.push(
          fc.tuple(base, fc.constantFrom(...required)).map(([value, name]) => {
            const { [name]: _dropped, ...rest } = value;
            return rest;
          }),
        );
      }
      mutations.push(
        fc
          .tuple(base, fc.string({ minLength: 1, maxLength: 10 }), fc.jsonValue({ maxDepth: 1 }))
          .map(([value, name, extra]) => ({ ...value, [`x${name}`]: extra })),
      );
      const names = Object.keys(resolved.properties);
      mutations.push(
        fc
          .tuple(base, fc.constantFrom(...names))
          .chain(([value, name]) =>
            invalid(resolved.properties![name]).map((bad) => ({ ...value, [name]: bad })),
          ),
      );
    }
    return fc.oneof(...mutations);
  }

  return { valid: (schema) => valid(schema), invalid };
}
