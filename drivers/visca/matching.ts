/**
 * Reply matching for the VISCA drivers: which waiting request a reply from
 * the camera belongs to. Used as Waitress matchers (drivers/util/waitress.ts),
 * offered each reply in registration order.
 *
 * Serial / raw VISCA (no sequence numbers, `seq` undefined): the line is held
 * from writing a command until its ACK, so an ACK, or an error without a
 * socket (`60 02` syntax, `60 03` buffer full), belongs to the one command
 * awaiting its ACK. A socket error (`6y 04/05/41`) belongs to the command
 * executing in socket y if there is one (its completion waiter was
 * registered earlier and sees it first), else to the command awaiting its
 * ACK (refused before being accepted). Completions match by socket.
 *
 * VISCA over IP: the camera copies the request's sequence number into every
 * reply, so everything matches by number; a control ERROR "abnormal sequence
 * number" answers a retransmission of something already received.
 */
import type { FrameMatcher } from '../util/waitress.js';
import type { ViscaReply } from './codec.js';

/** A reply as the driver core sees it: VISCA replies (with the IP sequence number) and IP control replies. */
export type ViscaIncoming =
  | { type: 'visca'; seq?: number; reply: ViscaReply }
  | { type: 'control'; seq: number; control: 'reset-ack' | 'sequence-error' | 'message-error' };

/** Where a command went: set by the ACK matcher when the ACK arrives. */
export interface SocketSlot {
  socket?: number;
}

const sameSeq = (msg: ViscaIncoming, seq: number | undefined): boolean => seq === undefined || msg.seq === seq;

/**
 * ACK, or an error in place of the ACK (or, over IP, "sequence error": the
 * command was received before). Records the socket in `slot` and `busy`
 * synchronously, so that a completion in the same chunk finds it.
 */
export function ackMatcher(seq: number | undefined, slot: SocketSlot, busy: Set<number>): FrameMatcher<ViscaIncoming> {
  return (msg) => {
    if (!sameSeq(msg, seq)) return false;
    if (msg.type === 'control') return msg.control === 'sequence-error' && seq !== undefined;
    const r = msg.reply;
    if (r.kind === 'ack' && (seq !== undefined || !busy.has(r.socket))) {
      slot.socket = r.socket;
      busy.add(r.socket);
      return true;
    }
    return r.kind === 'error' && (r.socket === 0 || seq !== undefined || !busy.has(r.socket));
  };
}

/** Completion or error of the command in `slot.socket` (serial) or with sequence number `seq` (IP, ACK or not). */
export function doneMatcher(seq: number | undefined, slot: SocketSlot): FrameMatcher<ViscaIncoming> {
  return (msg) => {
    if (msg.type !== 'visca' || !sameSeq(msg, seq)) return false;
    const r = msg.reply;
    if (r.kind !== 'completion' && r.kind !== 'error') return false;
    if (seq !== undefined) return r.kind === 'completion' || r.socket !== 0;
    return slot.socket !== undefined && r.socket === slot.socket;
  };
}

/** The answer to an inquiry (`y0 50 data FF`), an error without socket, or (IP) a sequence error. */
export function inquiryMatcher(seq: number | undefined): FrameMatcher<ViscaIncoming> {
  return (msg) => {
    if (!sameSeq(msg, seq)) return false;
    if (msg.type === 'control') return msg.control === 'sequence-error' && seq !== undefined;
    const r = msg.reply;
    return (r.kind === 'completion' && r.socket === 0 && r.data.length > 0) || (r.kind === 'error' && r.socket === 0);
  };
}
