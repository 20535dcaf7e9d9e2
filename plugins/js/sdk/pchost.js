// The JavaScript kit of the partner-center plugin host: exact money and the shapes of the
// contract (extension@0.3.0), for rules built with componentize-js.
//
// Money is exact. A Decimal is a BigInt mantissa and a scale (value = mantissa × 10^-scale),
// as the contract carries it; its arithmetic is BigInt arithmetic and never rounds unless
// asked. JavaScript numbers are floats: `Decimal.from` refuses a number that is not a safe
// integer, so 0.1 + 0.2 never reaches a price.

/** The most decimal places a price may carry across the boundary (the contract's limit). */
export const MAX_SCALE = 10;
const S64_MIN = -(2n ** 63n);
const S64_MAX = 2n ** 63n - 1n;

export class Decimal {
  /** `mantissa` × 10^-`scale`; `mantissa` a BigInt (or a safe integer), `scale` 0..28. */
  constructor(mantissa, scale = 0) {
    if (!Number.isInteger(scale) || scale < 0 || scale > 28) {
      throw new RangeError(`scale ${scale} is not an integer within 0..28`);
    }
    this.mantissa = toBigInt(mantissa);
    this.scale = scale;
    Object.freeze(this);
  }

  /** A decimal from its text: "12", "-0.5", "88.500000". */
  static parse(text) {
    const match = /^([+-]?)(\d+)(?:\.(\d+))?$/.exec(String(text).trim());
    if (!match) throw new RangeError(`${JSON.stringify(String(text))} is not a decimal`);
    const fraction = match[3] ?? "";
    return new Decimal(BigInt(`${match[1]}${match[2]}${fraction}`), fraction.length);
  }

  /** A Decimal as it is, a decimal string, a BigInt, or a safe integer: never a fraction. */
  static from(value) {
    if (value instanceof Decimal) return value;
    if (typeof value === "string") return Decimal.parse(value);
    return new Decimal(toBigInt(value), 0);
  }

  /** A contract decimal (`{ mantissa, scale }`, as `partner-center:types` defines it). */
  static fromWit(wit) {
    return new Decimal(wit.mantissa, wit.scale);
  }

  /** This value at `scale` or more places, exactly. */
  withScale(scale) {
    if (scale < this.scale) throw new RangeError("use round() to drop decimal places");
    return new Decimal(this.mantissa * 10n ** BigInt(scale - this.scale), scale);
  }

  add(other) {
    const [a, b, scale] = aligned(this, Decimal.from(other));
    return new Decimal(a + b, scale);
  }

  sub(other) {
    const [a, b, scale] = aligned(this, Decimal.from(other));
    return new Decimal(a - b, scale);
  }

  mul(other) {
    const o = Decimal.from(other);
    return new Decimal(this.mantissa * o.mantissa, this.scale + o.scale);
  }

  /** -1, 0 or 1 as this is below, equal to or above `other`. */
  cmp(other) {
    const [a, b] = aligned(this, Decimal.from(other));
    return a < b ? -1 : a > b ? 1 : 0;
  }

  lt(other) { return this.cmp(other) < 0; }
  lte(other) { return this.cmp(other) <= 0; }
  gt(other) { return this.cmp(other) > 0; }
  gte(other) { return this.cmp(other) >= 0; }
  eq(other) { return this.cmp(other) === 0; }
  isZero() { return this.mantissa === 0n; }
  isNegative() { return this.mantissa < 0n; }

  /** At most `places` decimal places, a half rounded away from zero (a value with fewer
   * places is kept as it is). */
  round(places) {
    if (places >= this.scale) return this;
    const divisor = 10n ** BigInt(this.scale - places);
    let quotient = this.mantissa / divisor;
    const remainder = this.mantissa % divisor;
    const twice = (remainder < 0n ? -remainder : remainder) * 2n;
    if (twice >= divisor) quotient += this.mantissa < 0n ? -1n : 1n;
    return new Decimal(quotient, places);
  }

  /** The same value without trailing zeros after the point: 7.50 is 7.5. */
  normalize() {
    let { mantissa, scale } = this;
    while (scale > 0 && mantissa % 10n === 0n) {
      mantissa /= 10n;
      scale -= 1;
    }
    return new Decimal(mantissa, scale);
  }

  /** The contract's decimal; throws if it does not fit (mantissa in s64, at most 10 places
   * once trailing zeros past the 10th are dropped). */
  toWit() {
    let value = this;
    if (value.scale > MAX_SCALE) {
      value = value.normalize();
      if (value.scale < MAX_SCALE) value = value.withScale(MAX_SCALE);
    }
    if (value.scale > MAX_SCALE) throw new RangeError(`${this} has more than ${MAX_SCALE} decimal places: round() it`);
    if (value.mantissa < S64_MIN || value.mantissa > S64_MAX) throw new RangeError(`${this} does not fit the contract`);
    return { mantissa: value.mantissa, scale: value.scale };
  }

  toString() {
    const negative = this.mantissa < 0n;
    let digits = (negative ? -this.mantissa : this.mantissa).toString();
    if (this.scale > 0) {
      digits = digits.padStart(this.scale + 1, "0");
      digits = `${digits.slice(0, -this.scale)}.${digits.slice(-this.scale)}`;
    }
    return negative ? `-${digits}` : digits;
  }

  toJSON() {
    return this.toString();
  }
}

function toBigInt(value) {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  throw new TypeError(`${String(value)} is not an integer: money is never a float, use Decimal.parse("...")`);
}

function aligned(a, b) {
  const scale = Math.max(a.scale, b.scale);
  return [a.withScale(scale).mantissa, b.withScale(scale).mantissa, scale];
}

/** The binding's settings of a quote or an approval request, by name and type. The host
 * always sends every setting the manifest declares (the binding's value or the default);
 * `fallback` serves only a run without a manifest. */
export function settingsOf(input) {
  const byName = new Map((input.settings ?? []).map((s) => [s.name, s.value]));
  const get = (name, tag) => {
    const value = byName.get(name);
    return value && value.tag === tag ? value.val : undefined;
  };
  return {
    decimal(name, fallback) {
      const value = get(name, "decimal");
      if (value !== undefined) return Decimal.fromWit(value);
      return fallback === undefined ? undefined : Decimal.from(fallback);
    },
    integer(name, fallback) {
      const value = get(name, "integer");
      return value === undefined ? fallback : BigInt(value);
    },
    text(name, fallback) {
      return get(name, "text") ?? fallback;
    },
    flag(name, fallback) {
      return get(name, "flag") ?? fallback;
    },
  };
}

/** The lines of a quote (the contract sends them column by column), each with its index and
 * its prices as Decimals. */
export function* linesOf(quote) {
  const l = quote.lines;
  for (let index = 0; index < l.quantity.length; index++) {
    yield {
      index,
      product: quote.products[l.product[index]],
      period: l.period[index],
      periodCount: l.periodCount[index],
      quantity: l.quantity[index],
      listUnitPrice: new Decimal(l.listUnitPrice[index], l.listUnitPriceScale[index]),
      unitPrice: new Decimal(l.unitPrice[index], l.unitPriceScale[index]),
    };
  }
}

/** A pricing rule's answer, built line by line: `reason` writes a reason once and gives its
 * index; `reprice` sets a line's new unit price. */
export class PriceAdjustments {
  constructor() {
    this.line = [];
    this.unitPrice = [];
    this.unitPriceScale = [];
    this.reason = [];
    this.reasons = [];
    this.reasonKind = [];
  }

  /** Adds a reason of a discount kind (seller-discount, partner-granted, promotion, contract
   * or markup) and returns its index. */
  addReason(text, kind) {
    this.reasons.push(String(text));
    this.reasonKind.push(kind);
    return this.reasons.length - 1;
  }

  /** Sets line `index` to `unitPrice` (a Decimal), explained by reason `reason`. */
  reprice(index, unitPrice, reason) {
    const wit = Decimal.from(unitPrice).toWit();
    this.line.push(index);
    this.unitPrice.push(wit.mantissa);
    this.unitPriceScale.push(wit.scale);
    this.reason.push(reason);
  }
}

/** A rule error the host reports as the rule's own (`invalid-input`): throw it. */
export function invalidInput(message) {
  const error = new Error(message);
  error.payload = { tag: "invalid-input", val: String(message) };
  return error;
}
