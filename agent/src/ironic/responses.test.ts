import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeIronicError } from './responses.js';

describe('describeIronicError', () => {
  it('unwraps {"error_message": "<json>"} to the faultstring', () => {
    const text = JSON.stringify({
      error_message: JSON.stringify({ faultstring: 'Node 1 is locked', faultcode: 'Client', debuginfo: null }),
    });
    assert.equal(describeIronicError({ status: 409, text }), 'Error 409: Node 1 is locked');
  });
  it('handles an already-decoded error_message, plain strings and non-JSON', () => {
    assert.equal(describeIronicError({ status: 400, text: '{"error_message":{"faultstring":"bad"}}' }), 'Error 400: bad');
    assert.equal(describeIronicError({ status: 400, text: '{"error_message":"not json inside"}' }), 'Error 400: not json inside');
    assert.equal(describeIronicError({ status: 406, text: '{"title":"Not Acceptable","description":"x"}' }), 'Error 406: Not Acceptable');
    assert.equal(describeIronicError({ status: 502, text: '<html>Bad gateway</html>' }), 'Error 502: <html>Bad gateway</html>');
    assert.equal(describeIronicError({ status: 500, text: '' }), 'Error 500: (empty body)');
  });
});
