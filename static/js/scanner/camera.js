// The camera: getUserMedia into a <video>, frames drawn onto a canvas a few
// times a second and read by jsQR (vendored, see static/vendor/VENDORED.md).

const FRAME_MS = 120;
const MAX_SIDE = 800;

export class Camera {
  constructor(video, onText) {
    this.video = video;
    this.onText = onText;
    this.canvas = document.createElement('canvas');
    this.context = this.canvas.getContext('2d', { willReadFrequently: true });
    this.stream = null;
    this.timer = null;
    this.paused = false;
  }

  get running() {
    return this.stream !== null;
  }

  async start() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Error('no camera API');
    }
    this.stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: { ideal: 'environment' }, width: { ideal: 1280 }, height: { ideal: 720 } },
      audio: false,
    });
    this.video.srcObject = this.stream;
    await this.video.play();
    this.loop();
  }

  stop() {
    clearTimeout(this.timer);
    if (this.stream) this.stream.getTracks().forEach((track) => track.stop());
    this.stream = null;
    this.video.srcObject = null;
  }

  loop() {
    if (!this.stream) return;
    if (!this.paused) this.readFrame();
    this.timer = setTimeout(() => this.loop(), FRAME_MS);
  }

  readFrame() {
    const { video } = this;
    if (video.readyState < 2 || !video.videoWidth) return;
    const scale = Math.min(1, MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
    const w = Math.round(video.videoWidth * scale);
    const h = Math.round(video.videoHeight * scale);
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    this.context.drawImage(video, 0, 0, w, h);
    const image = this.context.getImageData(0, 0, w, h);
    const code = window.jsQR(image.data, w, h, { inversionAttempts: 'dontInvert' });
    if (code && code.data) this.onText(code.data);
  }
}
