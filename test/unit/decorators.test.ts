import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AutoReconnect, BeforeReconnect } from '../../src';
import { decoratedHooks, decoratedOptions } from '../../src/decorators';

describe('decorators', () => {
  it('validate @AutoReconnect options when the class is declared', () => {
    assert.throws(() => AutoReconnect({ retries: -1 }), /@AutoReconnect option `retries` must be between 0 and 1000/);
  });

  it('store the policy on the class, inherited by subclasses, without touching the parent', () => {
    @AutoReconnect({ retries: 4 })
    class Parent {
      @BeforeReconnect
      static parentHook(): void {}
    }
    class Child extends Parent {
      @BeforeReconnect
      static childHook(): void {}
    }
    assert.deepEqual(decoratedOptions(Child), { retries: 4, deadlineMs: undefined, retryWrites: undefined, backoff: undefined });
    assert.deepEqual(decoratedHooks(Parent, 'beforeReconnect'), [Parent.parentHook]);
    assert.deepEqual(decoratedHooks(Child, 'beforeReconnect'), [Parent.parentHook, Child.childHook]);
    assert.deepEqual(decoratedHooks(Child, 'afterReconnect'), []);
  });

  it('refuse to decorate an instance method', () => {
    assert.throws(() => {
      class Wrong {
        @BeforeReconnect
        hook(): void {}
      }
      void Wrong;
    }, /@BeforeReconnect decorates a static method of a model class/);
  });
});
