// render-contact-sheet (queue documents): a media workflow step run once the source step
// completed, beside resize. Lays out an A4 PDF with pdfkit (as generate-document does): a title,
// the source's format, size and tenant, a large preview, and one captioned tile per thumbnail
// width, each rendered from the original with sharp. The PDF streams into storage as
// contact-sheet.pdf and is read back with pdf-parse, so the page count reported is the real one.
import PDFDocument from 'pdfkit';
import { PDFParse } from 'pdf-parse';
import sharp from 'sharp';
import { Worker, WorkerResults } from 'docket';
import { contactSheetArgs, contactSheetResult } from '../jobs/media-schemas.js';
import { messageOf, type WorkerDeps } from './common.js';
import { toWinAnsi } from './document.js';
import { MAX_INPUT_PIXELS } from './image-source.js';
import type { MediaSourceWorker } from './media-source.js';
import { readSourceImage } from './step-input.js';

const PDF_NAME = 'contact-sheet.pdf';
/** Tile widths when the request asked for no thumbnails. */
const DEFAULT_TILES = [64, 128, 256];
const MARGIN = 48;
const PREVIEW_HEIGHT = 340;
const CELL = 112;
const GAP = 12;

interface Picture {
  data: Buffer;
  width: number;
  height: number;
}

/** The image resized to fit `width` x `height` (never enlarged), flattened on white, as JPEG (keeps the PDF small). */
async function picture(input: Buffer, width: number, height: number): Promise<Picture> {
  const { data, info } = await sharp(input, { limitInputPixels: MAX_INPUT_PIXELS })
    .rotate()
    .flatten({ background: '#ffffff' })
    .resize({ width, height, fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality: 85 })
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

export function createContactSheetWorker(deps: WorkerDeps, sourceWorker: MediaSourceWorker) {
  const { config, storage, logger } = deps;
  return new Worker({
    name: 'render-contact-sheet',
    queue: 'documents',
    args: contactSheetArgs,
    result: contactSheetResult,
    maxAttempts: 3,
    timeout: config.timeouts.documents,
    partition: { by: (args) => args.tenantId, limit: config.tenantConcurrency },
    perform: async (job, { signal }) => {
      const source = await readSourceImage(job, storage.forTenant(job.args.tenantId), sourceWorker);
      if ('refused' in source) return source.refused;
      const widths = [...new Set(job.args.thumbnails.length > 0 ? job.args.thumbnails : DEFAULT_TILES)].sort((a, b) => a - b);

      // 1. The pictures (the source was checked by the source step; if sharp still fails on it, it always will).
      let preview: Picture;
      let tiles: Picture[];
      try {
        preview = await picture(source.bytes, 1200, 1200);
        tiles = await Promise.all(widths.map((w) => picture(source.bytes, w, w * 4)));
      } catch (error) {
        if (signal.aborted) throw error;
        return WorkerResults.discard(`source image could not be processed: ${messageOf(error)}`);
      }
      await job.progress(30, { stage: 'pictures', tiles: tiles.length });

      // 2. The PDF, streamed into storage.
      const title = toWinAnsi(job.args.title ?? `Contact sheet: ${job.args.imageId}`).text;
      const doc = new PDFDocument({
        size: 'A4',
        margin: MARGIN,
        info: { Title: title, Subject: job.args.imageId, Author: `tenant ${job.args.tenantId}`, Creator: 'content-processor (docket)' },
      });
      const written = storage.forTenant(job.args.tenantId).write(job.id, PDF_NAME, doc, { signal });
      const width = doc.page.width - 2 * MARGIN;
      doc.font('Helvetica-Bold').fontSize(18).text(title);
      doc.font('Helvetica').fontSize(10).fillColor('#555555');
      doc.text(`${source.format.toUpperCase()} · ${source.width}×${source.height} px · ${source.bytes.length} bytes · tenant ${job.args.tenantId}`);
      doc.fillColor('#000000').moveDown(0.8);

      let y = doc.y;
      doc.image(preview.data, MARGIN, y, { fit: [width, PREVIEW_HEIGHT], align: 'center', valign: 'center' });
      y += PREVIEW_HEIGHT + 2 * GAP;
      doc.font('Helvetica-Bold').fontSize(12).text('Sizes', MARGIN, y);
      y = doc.y + GAP / 2;

      let x = MARGIN;
      for (const [i, tile] of tiles.entries()) {
        if (x + CELL > MARGIN + width) {
          x = MARGIN;
          y += CELL + 3 * GAP;
        }
        if (y + CELL + 2 * GAP > doc.page.height - MARGIN) {
          doc.addPage();
          y = MARGIN;
        }
        // At most 0.75 pt per pixel (96 dpi): small sizes show small.
        const box = Math.min(CELL, Math.max(tile.width, tile.height) * 0.75);
        doc.image(tile.data, x, y, { fit: [box, box] });
        doc.font('Helvetica').fontSize(8).text(`${widths[i]} px: ${tile.width}×${tile.height}`, x, y + CELL + 4, { width: CELL, lineBreak: false });
        x += CELL + GAP;
      }
      doc.end();
      const pdf = await written;
      await job.progress(80, { stage: 'pdf', bytes: pdf.bytes });

      // 3. Read it back: a real PDF, and its real page count.
      const parser = new PDFParse({ data: await storage.forTenant(job.args.tenantId).readFile(job.id, PDF_NAME) });
      let pages: number;
      try {
        pages = (await parser.getText()).total;
      } finally {
        await parser.destroy();
      }
      logger.info('contact sheet rendered', { jobId: job.id, workflowId: job.workflow?.id, tenantId: job.args.tenantId, pages, bytes: pdf.bytes });
      return { jobId: job.id, pdf: { name: PDF_NAME, bytes: pdf.bytes, pages }, tiles: tiles.length };
    },
  });
}

export type ContactSheetWorker = ReturnType<typeof createContactSheetWorker>;
