/**
 * EM4100 byte fixtures copied from vendor documents (see docs/drivers/em4100.md).
 */
const ascii = (s: string): number[] => [...Buffer.from(s, 'latin1')];

export const FIXTURES = {
  /** Seeed RDM6300 datasheet example: card 62E3086CED, checksum 08. */
  rdm6300: {
    bytes: Buffer.from([0x02, ...ascii('62E3086CED08'), 0x03]),
    uid: '62E3086CED',
    // 0xE3086CED; the datasheet's own "60717296877" is a typo (more than 32 bits).
    number: '3808980205',
  },
  /** EM-18 reader example: 4500C5D1E9 with XOR B8, card number 0012964329. */
  em18: {
    bytes: Buffer.from('4500C5D1E9B8', 'latin1'),
    uid: '4500C5D1E9',
    number: '0012964329',
  },
  /** 125 kHz UART module example: 307E4DE5C2 with XOR 24. */
  em18Module: {
    bytes: Buffer.from('307E4DE5C224', 'latin1'),
    uid: '307E4DE5C2',
    number: '2119034306', // computed: 0x7E4DE5C2
  },
  /** Binary desk-reader example: 02 0A 02 06 00 8E 6D 5D B0 03, number 0009334109. */
  binary: {
    bytes: Buffer.from([0x02, 0x0a, 0x02, 0x06, 0x00, 0x8e, 0x6d, 0x5d, 0xb0, 0x03]),
    uid: '06008E6D5D',
    number: '0009334109',
  },
} as const;
