import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { type GeoLocator, type Location, normaliseIp } from '@rampart/core';

interface GeoIpLite {
  lookup(ip: string): { country: string; region: string } | null;
}

/**
 * Geolocation from the dataset shipped in the `geoip-lite` npm package. Its data is
 * large, so it is loaded on the first lookup, not at start-up.
 */
export class GeoIpLiteLocator implements GeoLocator {
  private geoip: GeoIpLite | undefined;

  locate(ip: string): Location | null {
    const address = normaliseIp(ip);
    if (isIP(address) === 0) return null;
    this.geoip ??= createRequire(import.meta.url)('geoip-lite') as GeoIpLite;
    const found = this.geoip.lookup(address);
    if (!found?.country) return null;
    return { country: found.country, region: found.region || null };
  }
}
