/**
 * UID fixtures. Generic line readers have no vendor frame document; the UIDs
 * follow ISO/IEC 14443-3 sizes (4, 7, 10 bytes, UID0 first; 04 is NXP's
 * manufacturer code, first byte of NXP 7-byte UIDs), and the decimal forms
 * were computed independently with Python's int.from_bytes(bytes, 'big' |
 * 'little'), not with the code under test.
 */
export interface UidFixture {
  uid: string;
  /** Decimal with UID0 most significant (byteOrder msb), as printed zero-padded. */
  decMsb: string;
  /** Decimal with UID0 least significant (byteOrder lsb). */
  decLsb: string;
  /** Hex with UID0 last (byteOrder lsb). */
  hexLsb: string;
}

export const UIDS: Record<'single' | 'single2' | 'double' | 'triple', UidFixture> = {
  single: { uid: '04A32B1C', decMsb: '0077802268', decLsb: '0472621828', hexLsb: '1C2BA304' },
  single2: { uid: 'C45F5E2A', decMsb: '3294584362', decLsb: '0710827972', hexLsb: '2A5E5FC4' },
  double: { uid: '04A32B1C5E3D80', decMsb: '01305305461702016', decLsb: '36096271427805956', hexLsb: '803D5E1C2BA304' },
  triple: {
    uid: '04112233445566778899',
    decMsb: '0019205524969286327044249',
    decLsb: '0725039432730969758634244',
    hexLsb: '99887766554433221104',
  },
};
