/**
 * IPA's error model. Every error the agent reports over its API serializes to
 * {type, code, message, details} (command_error) or, for rejected requests,
 * to {faultcode, faultstring}. `type` is the class name the conductor sees,
 * so these names follow IPA's (errors.py).
 */
export class AgentError extends Error {
  /** HTTP-ish status: 4xx for bad requests, 5xx for failures. */
  readonly code: number;
  readonly details: string;
  constructor(message: string, details = '', code = 500, opts: { cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.code = code;
    this.details = details;
    // The class name is the `type` the conductor sees.
    this.name = new.target.name;
  }
  toJSON(): { type: string; code: number; message: string; details: string } {
    return { type: this.name, code: this.code, message: this.message, details: this.details };
  }
}

export class InvalidContentError extends AgentError {
  constructor(details: string) {
    super('Invalid request body', details, 400);
  }
}
export class NotFound extends AgentError {
  constructor(details = '') {
    super('Not found', details, 404);
  }
}
export class ExtensionNotFound extends AgentError {
  constructor(ext: string) {
    super('Extension not found', `Extension with id ${ext} not found.`, 404);
  }
}
export class InvalidCommandError extends AgentError {
  constructor(details: string) {
    super('Invalid command', details, 400);
  }
}
export class InvalidCommandParamsError extends AgentError {
  constructor(details: string) {
    super('Invalid command parameters', details, 400);
  }
}
export class RequestedObjectNotFoundError extends AgentError {
  constructor(type: string, id: string) {
    super('Requested object not found', `${type} with id ${id} not found.`, 404);
  }
}
export class AgentIsBusy extends AgentError {
  constructor(command: string) {
    super('Agent is busy', `executing command ${command}`, 409);
  }
}
export class CommandExecutionError extends AgentError {
  constructor(details: string) {
    super('Command execution failed', details, 500);
  }
}
export class VersionMismatch extends AgentError {
  constructor(agentVersion: unknown, nodeVersion: unknown) {
    super(
      'Hardware managers version mismatch',
      `Mismatch of hardware manager versions. Agent: ${JSON.stringify(agentVersion)}, node: ${JSON.stringify(nodeVersion)}`,
      409,
    );
  }
}
export class CleaningError extends AgentError {
  constructor(details: string) {
    super('Clean step failed', details, 500);
  }
}
/**
 * IPA's ProtectedDeviceError (a CleaningError): a disk holds a shared-disk or
 * cluster filesystem, so erasing it could destroy a running cluster.
 */
export class ProtectedDeviceError extends CleaningError {
  constructor(device: string, what: string) {
    super(
      `Protected ${what} located on device ${device}. This volume or contents may be a shared block device. ` +
        'Please consult your storage administrator, and restart cleaning after either detaching the volumes, or ' +
        'instructing the agent to not protect contents: set driver_internal_info wipe_special_filesystems=false on the node ' +
        '(for one cleaning), or ipa-guard-special-filesystems=0 on the kernel command line or guardSpecialFilesystems: false ' +
        'in the agent config.',
    );
    this.message = 'Protected device located, cleaning aborted.';
  }
}
export class DeploymentError extends AgentError {
  constructor(details: string) {
    super('Deploy step failed', details, 500);
  }
}
export class ServicingError extends AgentError {
  constructor(details: string) {
    super('Service step failed', details, 500);
  }
}
export class IncompatibleHardwareMethodError extends AgentError {
  constructor(details = '') {
    super('HardwareManager method is not compatible with hardware', details, 500);
  }
}
export class HardwareManagerMethodNotFound extends AgentError {
  constructor(method: string) {
    super('No HardwareManager found to handle method', `Could not find method: ${method}`, 500);
  }
}
export class HardwareManagerConfigurationError extends AgentError {
  constructor(details: string) {
    super('Hardware manager configuration error', details, 500);
  }
}
export class BlockDeviceEraseError extends AgentError {
  constructor(details: string) {
    super('Error erasing block device', details, 500);
  }
}
/** IPA's SoftwareRAIDError: a software RAID configuration is invalid or could not be built or removed. */
export class SoftwareRAIDError extends AgentError {
  constructor(details: string) {
    super('Software RAID caused unknown error', details, 500);
  }
}
export class DeviceNotFound extends AgentError {
  constructor(details: string) {
    super('Error finding the disk or partition device to deploy the image onto', details, 404);
  }
}
export class ImageDownloadError extends AgentError {
  constructor(imageId: string, msg: string) {
    super('Error downloading image', `Download of image ${imageId} failed: ${msg}`, 500);
  }
}
export class ImageChecksumError extends AgentError {
  /** Same wording and order as IPA: the image's own checksum first, then the one computed here. */
  constructor(imageId: string, location: string, expected: string, computed: string) {
    super(
      'Error verifying image checksum',
      `Image failed to verify against checksum. location: ${location}; image ID: ${imageId}; image checksum: ${expected}; verification checksum: ${computed}`,
      500,
    );
  }
}
export class ImageWriteError extends AgentError {
  constructor(device: string, details: string) {
    super('Error writing image to device', `Writing image to device ${device} failed: ${details}`, 500);
  }
}
export class InvalidImage extends AgentError {
  constructor(details: string) {
    super('The image is invalid', details, 400);
  }
}
export class InspectionError extends AgentError {
  constructor(details: string) {
    super('Failure during inspection', details, 500);
  }
}
/** IPA's ServiceLookupFailure: an mDNS lookup (ipa-api-url=mdns) found no usable service. */
export class ServiceLookupFailure extends AgentError {
  constructor(details: string) {
    super('Cannot find the service through multicast', details, 500);
  }
}
export class LookupNodeError extends AgentError {
  constructor(details: string) {
    super('Error getting configuration from Ironic', details, 500);
  }
}
export class CommandTimeout extends AgentError {
  constructor(details: string) {
    super('Command timed out', details, 408);
  }
}

/** Startup configuration (kernel command line, config file, flags) is unusable: names the source and the fix. */
export class ConfigError extends AgentError {
  constructor(details: string) {
    super('Invalid agent configuration', details, 400);
  }
}

/** Could not read or mount the virtual media. */
export class VirtualMediaError extends AgentError {
  constructor(details: string, opts: { cause?: unknown } = {}) {
    super('Error reading virtual media', details, 500, opts);
  }
}

/** An error's message plus AgentError details, for log lines. */
export function describeError(e: unknown): string {
  if (e instanceof Error) {
    const details = (e as { details?: unknown }).details;
    return typeof details === 'string' && details ? `${e.message}: ${details}` : e.message;
  }
  return String(e);
}

/** The message of any thrown value: an Error's message, else the value as a string. */
export const errMsg = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Any thrown value → an AgentError (non-agent errors become CommandExecutionError, as IPA does). */
export function toAgentError(e: unknown): AgentError {
  if (e instanceof AgentError) return e;
  return new CommandExecutionError(errMsg(e));
}
