'use strict';

const formatters = new Map();

function formatPrice(cents, currency = 'EUR', locale = 'en-IE') {
  const key = `${locale}:${currency}`;
  if (!formatters.has(key)) {
    formatters.set(key, new Intl.NumberFormat(locale, { style: 'currency', currency }));
  }
  return formatters.get(key).format(cents / 100);
}

function withVat(cents, rate = 0.21) {
  return Math.round(cents * (1 + rate));
}

module.exports = { formatPrice, withVat };
