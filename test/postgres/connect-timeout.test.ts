import { describe } from 'node:test';
import { adminUrl, testSequelize, withHostPort } from '../support/db';
import { stalledConnectTests } from '../support/stalled';

describe('postgres: a connect that gets no answer', () => {
  const server = () => {
    const url = new URL(adminUrl());
    return { host: url.hostname, port: Number(url.port) };
  };
  stalledConnectTests(
    async (port, plugin) => testSequelize(withHostPort(adminUrl(), '127.0.0.1', port), { appName: 'stalled', plugin }),
    server,
  );
});
