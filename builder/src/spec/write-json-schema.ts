/** Regenerates build-spec.schema.json from schema.ts (npm run schema); a test checks it is current. */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WrittenSpecSchema } from './schema.js';

export const SCHEMA_PATH = fileURLToPath(new URL('./build-spec.schema.json', import.meta.url));

export function renderJsonSchema(): string {
  const schema = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://ramforge.invalid/build-spec.schema.json',
    ...WrittenSpecSchema,
  };
  return JSON.stringify(schema, null, 2) + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(SCHEMA_PATH, renderJsonSchema());
  console.error(`wrote ${SCHEMA_PATH}`);
}
