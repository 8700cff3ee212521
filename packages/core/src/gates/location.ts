/** Where an IP address is, as far as the geolocation data knows. */
export interface Location {
  /** ISO 3166-1 alpha-2, e.g. US. */
  country: string;
  /** Subdivision code without the country, e.g. NY; null when unknown. */
  region: string | null;
}

/** Geolocation behind an interface, so operators can plug in their own database. */
export interface GeoLocator {
  /** null: the address has no known location (private, loopback, unallocated). */
  locate(ip: string): Location | null;
}

/** `US-NY` blocks New York; `US` blocks the whole country. */
export function matchesJurisdiction(location: Location, codes: readonly string[]): string | undefined {
  const full = location.region ? `${location.country}-${location.region}` : undefined;
  return codes.find((code) => code === location.country || (full !== undefined && code === full));
}
