// Third-party modules that recipes in docs/ use but this project does not install: the part of
// each one's published API that the recipes call, so the recipes are checked against it.

declare module '@aws-sdk/rds-signer' {
  export class Signer {
    constructor(options: { hostname: string; port: number; username: string; region?: string });
    getAuthToken(): Promise<string>;
  }
}

declare module 'prom-client' {
  export interface CounterConfiguration<T extends string> {
    name: string;
    help: string;
    labelNames?: readonly T[];
    collect?: (this: Counter<T>) => void | Promise<void>;
  }
  export class Counter<T extends string = string> {
    constructor(configuration: CounterConfiguration<T>);
    inc(labels?: Partial<Record<T, string | number>>, value?: number): void;
    reset(): void;
  }
  export const register: { contentType: string; metrics(): Promise<string> };
}
