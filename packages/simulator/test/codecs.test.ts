import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { isValidIban } from '../src/banking/iban.ts';
import { isValidRoutingNumber } from '../src/banking/routing-number.ts';
import { isValidAddress, newAddress, toChecksumAddress } from '../src/crypto/addresses.ts';
import { base58CheckDecode } from '../src/crypto/base58.ts';
import { decodeSegwit } from '../src/crypto/bech32.ts';
import { keccak256 } from '../src/crypto/keccak.ts';
import { formatMinor, magicCentsOfDecimal, parseDecimal } from '../src/money.ts';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('address codecs', () => {
  test('keccak256 of the empty string is the Ethereum constant', () => {
    assert.equal(hex(keccak256(new Uint8Array())), 'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470');
  });

  test('the same sponge with SHA3 padding matches node:crypto sha3-256 across block boundaries', () => {
    for (const length of [0, 1, 55, 135, 136, 137, 272, 500]) {
      const data = Buffer.alloc(length, length % 251);
      assert.equal(hex(keccak256(data, 0x06)), createHash('sha3-256').update(data).digest('hex'), `length ${length}`);
    }
  });

  test('EIP-55 checksums match the reference vectors', () => {
    for (const address of [
      '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
      '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
      '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB',
      '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb',
    ]) {
      assert.equal(toChecksumAddress(address.toLowerCase()), address);
    }
  });

  test('bech32 and bech32m segwit addresses decode per BIP-173/350; a v0 address with a bech32m checksum does not', () => {
    assert.equal(decodeSegwit('bc', 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4')?.version, 0);
    assert.equal(decodeSegwit('bc', 'bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0')?.version, 1);
    assert.equal(decodeSegwit('bc', 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh'), undefined);
    assert.equal(decodeSegwit('bc', 'BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4')?.version, 0);
    assert.equal(decodeSegwit('bc', 'bc1QW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4'), undefined);
  });

  test('base58check decodes the genesis address to version 0 and rejects a changed character', () => {
    assert.equal(base58CheckDecode('1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa')?.[0], 0);
    assert.equal(base58CheckDecode('1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb'), undefined);
  });

  test('addresses the ramp generates pass its own validation for their chain only', () => {
    for (const chain of ['evm', 'tron', 'bitcoin'] as const) {
      for (let i = 0; i < 20; i++) {
        const address = newAddress(chain);
        assert.equal(isValidAddress(chain, address), true, address);
        for (const other of ['evm', 'tron', 'bitcoin'] as const) {
          if (other !== chain) assert.equal(isValidAddress(other, address), false, `${address} on ${other}`);
        }
      }
    }
  });
});

describe('bank account checks', () => {
  test('ABA routing numbers pass only with a valid weighted checksum', () => {
    assert.equal(isValidRoutingNumber('110000000'), true);
    assert.equal(isValidRoutingNumber('021000021'), true);
    assert.equal(isValidRoutingNumber('021000022'), false);
    assert.equal(isValidRoutingNumber('11000000'), false);
  });

  test('IBANs pass only with mod-97 = 1', () => {
    assert.equal(isValidIban('GB82 WEST 1234 5698 7654 32'), true);
    assert.equal(isValidIban('DE89370400440532013000'), true);
    assert.equal(isValidIban('DE89370400440532013001'), false);
  });
});

describe('decimal amounts', () => {
  test('decimal strings parse to minor units; floats, zero and excess decimals do not', () => {
    assert.equal(parseDecimal('25.5', 2), 2550n);
    assert.equal(parseDecimal('0.00000001', 8), 1n);
    assert.equal(parseDecimal('0.00', 2), undefined);
    assert.equal(parseDecimal('1.001', 2), undefined);
    assert.equal(parseDecimal(25.5, 2), undefined);
    assert.equal(parseDecimal('-1', 2), undefined);
    assert.equal(parseDecimal('1e3', 2), undefined);
    assert.equal(formatMinor(152307n, 8), '0.00152307');
    assert.equal(formatMinor(5n, 0), '5');
  });

  test('the magic selector is the first two digits after the decimal point', () => {
    assert.equal(magicCentsOfDecimal('4.01'), 1);
    assert.equal(magicCentsOfDecimal('0.0512'), 5);
    assert.equal(magicCentsOfDecimal('12'), 0);
    assert.equal(magicCentsOfDecimal('3.5'), 50);
  });
});
