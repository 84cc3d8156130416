/**
 * Defaults declared once, in the schema: `withDefault` marks an optional key
 * with its default (editors show it from the generated JSON Schema,
 * normalize.ts fills it in with TypeBox's Value.Default), and `Filled<T>`
 * is the type of a value once every such default is filled in. So the
 * resolved spec's type comes from the schema, not from a hand-written twin.
 */
import { Type, type Static, type TArray, type TObject, type TOptional, type TProperties, type TSchema } from '@sinclair/typebox';

declare const HasDefault: unique symbol;
export type TDefaulted<T extends TSchema> = TOptional<T> & { readonly [HasDefault]: true };

export function withDefault<T extends TSchema>(schema: T, value: Static<T>): TDefaulted<T> {
  return Type.Optional({ ...schema, default: value } as T) as TDefaulted<T>;
}

type Flatten<T> = { [K in keyof T]: T[K] } & {};
type DefaultedKeys<P extends TProperties> = { [K in keyof P]: P[K] extends { readonly [HasDefault]: true } ? K : never }[keyof P];
type OptionalKeys<P extends TProperties> = {
  [K in keyof P]: P[K] extends { readonly [HasDefault]: true } ? never : P[K] extends TOptional<TSchema> ? K : never;
}[keyof P];
type RequiredKeys<P extends TProperties> = Exclude<keyof P, DefaultedKeys<P> | OptionalKeys<P>>;

/** Static<T>, with every key that has a default present. */
export type Filled<T extends TSchema> =
  T extends TObject<infer P>
    ? Flatten<{ [K in DefaultedKeys<P> | RequiredKeys<P>]-?: Filled<P[K]> } & { [K in OptionalKeys<P>]?: Filled<P[K]> }>
    : T extends TArray<infer I>
      ? Filled<I>[]
      : Static<T>;
