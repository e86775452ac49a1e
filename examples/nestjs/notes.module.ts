import { Injectable, Module } from '@nestjs/common';
import { InjectModel, SequelizeModule } from '@nestjs/sequelize';
import { literal } from 'sequelize';
import { DatabaseModule } from './database.module';
import { Note } from './note.model';

@Injectable()
export class NotesService {
  constructor(@InjectModel(Note) private readonly notes: typeof Note) {}

  add(text: string): Promise<Note> {
    return this.notes.create({ text });
  }

  /** A read that takes half a second, long enough for the example to end its session under it. */
  slowCount(): Promise<number> {
    return this.notes.count({ where: literal('(SELECT true FROM pg_sleep(0.5))') });
  }
}

@Module({
  imports: [DatabaseModule, SequelizeModule.forFeature([Note])],
  providers: [NotesService],
  exports: [NotesService],
})
export class NotesModule {}
