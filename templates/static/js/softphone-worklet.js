/* The softphone's capture worklet: hands the microphone to the page in 20 ms chunks of float
   samples at the AudioContext's rate. Downsampling and mu-law encoding happen in softphone.js,
   the same code the ScriptProcessor fallback uses. */
class SoftphoneCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.size = Math.round(sampleRate / 50);
    this.buffer = new Float32Array(this.size);
    this.filled = 0;
    this.running = true;
    this.port.onmessage = (event) => { if (event.data === "stop") this.running = false; };
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) {
      for (let i = 0; i < channel.length; i++) {
        this.buffer[this.filled++] = channel[i];
        if (this.filled === this.size) {
          this.port.postMessage(this.buffer);
          this.buffer = new Float32Array(this.size);
          this.filled = 0;
        }
      }
    }
    return this.running;
  }
}

registerProcessor("softphone-capture", SoftphoneCapture);
