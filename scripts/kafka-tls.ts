// Certificates for the local broker's TLS listeners (`npm run kafka -- --secure`, the tests): a CA
// made for the run, a broker certificate it signs for 127.0.0.1 and localhost, and a client
// certificate for the mutual-TLS listener. Made with the openssl command line (EC P-256 keys,
// well under a second); every file is PEM, which both Kafka (ssl.*.type=PEM) and Node read.
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type CertificateFiles = { certFile: string; keyFile: string };

export type TlsMaterial = {
  /** The CA certificate: what clients put in KAFKA_SSL_CA. */
  caFile: string;
  ca: CertificateFiles;
  broker: CertificateFiles & {
    /** The broker's private key followed by its certificate: a Kafka PEM keystore. */
    keystoreFile: string;
  };
  /** A client certificate for mutual TLS (KAFKA_SSL_CERT / KAFKA_SSL_KEY), CN=tocsin-client. */
  client: CertificateFiles;
};

const days = '7';
const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** Writes a fresh CA, broker and client certificate into `dir`. */
export async function createTlsMaterial(dir: string, caName = 'Tocsin local Kafka CA'): Promise<TlsMaterial> {
  const ca = await createCertificateAuthority(dir, 'ca', caName);
  const broker = await signCertificate(dir, ca, 'broker', 'localhost', 'IP:127.0.0.1,DNS:localhost');
  const client = await signCertificate(dir, ca, 'client', 'tocsin-client');
  const keystoreFile = join(dir, 'broker-keystore.pem');
  await writeFile(
    keystoreFile,
    `${await readFile(broker.keyFile, 'utf8')}${await readFile(broker.certFile, 'utf8')}`,
  );
  return { caFile: ca.certFile, ca, broker: { ...broker, keystoreFile }, client };
}

/** A self-signed CA certificate and its key, `<name>.pem` and `<name>.key` in `dir`. */
export async function createCertificateAuthority(
  dir: string,
  name: string,
  commonName: string,
): Promise<CertificateFiles> {
  const files = { certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`) };
  await openssl([
    'req',
    '-x509',
    ...ecKey,
    '-keyout',
    files.keyFile,
    '-out',
    files.certFile,
    '-days',
    days,
    '-subj',
    `/CN=${commonName}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return files;
}

/** A certificate signed by `ca`, with `altNames` (e.g. `IP:127.0.0.1,DNS:localhost`) when given. */
export async function signCertificate(
  dir: string,
  ca: CertificateFiles,
  name: string,
  commonName: string,
  altNames?: string,
): Promise<CertificateFiles> {
  const files = { certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`) };
  const request = join(dir, `${name}.csr`);
  await openssl([
    'req',
    ...ecKey,
    '-keyout',
    files.keyFile,
    '-out',
    request,
    '-subj',
    `/CN=${commonName}`,
    ...(altNames ? ['-addext', `subjectAltName=${altNames}`] : []),
  ]);
  await openssl([
    'x509',
    '-req',
    '-in',
    request,
    '-CA',
    ca.certFile,
    '-CAkey',
    ca.keyFile,
    '-set_serial',
    String(Date.now()),
    '-days',
    days,
    '-copy_extensions',
    'copy',
    '-out',
    files.certFile,
  ]);
  return files;
}

function openssl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const child = spawn('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new Error(
              "'openssl' was not found on PATH: the secure local broker needs it for its certificates",
            )
          : error,
      ),
    );
    child.once('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`openssl ${args[0]} failed (exit ${code}): ${Buffer.concat(chunks).toString()}`));
    });
  });
}
